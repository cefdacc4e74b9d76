// Readers of the job record's structured fields (env, files, stdin, limits) and the workspace
// path rules, shared by job_parser.cpp. Each returns "" or an error that names the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "brood/job.hpp"
#include "jobs/strict_json.hpp"

namespace brood::jobs {

inline std::string* AsString(Json& v) { return v.get_ptr<std::string*>(); }
inline const std::string* AsString(const Json& v) { return v.get_ptr<const std::string*>(); }

// execve and the file system take C strings: a NUL would silently cut the value short.
inline bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Why `path` (a `files` key or a `collect` pattern) cannot name a place in /workspace, or "".
// Relative, at most 4096 bytes, no NUL, and every component a plain name: not empty, not "."
// (which would let "a" and "./a" be two entries for one file), not "..".
std::string PathProblem(std::string_view path);

// A JSON Schema "integer" above 0 that fits in int64 (512.0 counts as 512; 1.5 and true do not).
bool PositiveInteger(const Json& v, int64_t& out);

// A blob: a string, or {"base64": "..."}. The error is for the caller to prefix with the field.
std::string ReadBlob(Json& v, std::string& out);

// A "cmd" array, or a "shell" script as {"/bin/sh", "-c", script}, into argv; `field` names it
// in errors ("cmd", "build.shell", "expect.checker.cmd").
std::string ReadArgv(Json& v, const std::string& field, std::vector<std::string>& argv);
std::string ReadShellInto(Json& v, const std::string& field, std::vector<std::string>& argv);

std::string ReadEnv(Json& v, Job& job);
std::string ReadFiles(Json& v, Job& job);
// Types and positivity only; the caller checks the maxima once the whole job is read.
std::string ReadLimits(Json& v, Job& job);
// The limit fields given in `v` (its name in errors: "build.limits").
std::string ReadLimitOverrides(Json& v, std::string_view field, LimitOverrides& limits);

}  // namespace brood::jobs
