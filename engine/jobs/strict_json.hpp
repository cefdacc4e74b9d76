// One JSON text into an nlohmann::json document, more strictly than json::parse: a duplicate key
// is reported rather than silently resolved (json::parse keeps the last one, other readers the
// first, so the two would run different jobs), and hostile nesting costs no memory.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace brood::jobs {

using Json = nlohmann::json;

struct JsonDoc {
  Json value;                // the document; meaningful only when syntax_error is empty
  std::string syntax_error;  // not JSON: nlohmann's reason, short, printable ASCII
  std::string duplicate;     // first duplicate key: "env: duplicate key \"A\"" (first value kept)
  std::vector<std::string> duplicate_fields;  // top-level keys given more than once
};

// Containers nested deeper than this are kept, but empty: no record the parser accepts nests
// deeper than 3, and 64 MiB of '[' must not become 64 Mi nodes.
constexpr size_t kMaxJsonDepth = 8;

// Parses `text` (strict: nothing after the value, UTF-8 checked by nlohmann's lexer).
JsonDoc ParseStrictJson(std::string_view text);

// `s` in double quotes, cut to a readable length at a UTF-8 boundary: for error messages that
// quote user data (a 60 MiB key must not become a 60 MiB error).
std::string Quote(std::string_view s);

// What a value is, for "expected X, got Y" messages: `0`, `true`, `"ls"`, `an array`.
std::string Describe(const Json& v);

}  // namespace brood::jobs
