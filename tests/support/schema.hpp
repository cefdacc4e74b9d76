// Checks records against the project's JSON schemas (schema/*.json, docs/job.md, docs/result.md):
//
//   EXPECT_TRUE(brood::testing::ValidResult(line));
//
// Validation is done by Debian's /usr/bin/python3 with python3-jsonschema (Draft 2020-12): no
// C++ validator for that draft is packaged, and one long-lived python3 child per test binary,
// started on first use and fed one record at a time, keeps each check well under a millisecond.
// Only the schema is checked, plus what every JSON reader must agree on: a record that is not
// JSON, has a duplicate key, or holds NaN/Infinity fails. Thread-safe; a forked child starts its
// own validator. Without python3 or jsonschema every check fails, naming the apt-get line.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace brood::testing {

// One result record (a line of a results file, or `brood exec` output) against
// result.schema.json. On failure the message lists every violation with its JSON path.
::testing::AssertionResult ValidResult(const std::string& json_line);

// One job record (a line of a job file) against job.schema.json.
::testing::AssertionResult ValidJob(const std::string& json_line);

// A document against another schema of schema/, named by its path there
// ("serve/session.schema.json"; no spaces).
::testing::AssertionResult ValidAgainst(const std::string& schema, const std::string& json);

}  // namespace brood::testing
