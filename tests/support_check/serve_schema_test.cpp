// schema/serve/run_request.schema.json is schema/job.schema.json without its required "id" (a
// JSON Schema cannot take a requirement away from another by reference): this keeps them in step,
// and the session schemas' copies of the job record's fields too. Each serve schema must be a
// valid schema that takes what it should and refuses what it should not; tests/server checks the
// server's real answers against them.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/schema.hpp"

namespace {

using brood::testing::ValidAgainst;

nlohmann::json Load(const std::string& name) {
  std::ifstream in(std::string(BROOD_SCHEMA_DIR) + "/" + name);
  EXPECT_TRUE(in) << name;
  return nlohmann::json::parse(in, nullptr, false);
}

TEST(ServeSchema, TheRunRequestIsTheJobRecordWithAnOptionalId) {
  nlohmann::json job = Load("job.schema.json");
  nlohmann::json run = Load("serve/run_request.schema.json");
  ASSERT_TRUE(job.is_object());
  ASSERT_TRUE(run.is_object());
  EXPECT_EQ(job["required"], nlohmann::json::array({"id"}));
  EXPECT_FALSE(run.contains("required"));
  for (const char* own : {"$id", "title", "description", "required"}) {
    job.erase(own);
    run.erase(own);
  }
  EXPECT_EQ(job, run) << "regenerate schema/serve/run_request.schema.json from job.schema.json";
}

TEST(ServeSchema, EveryServeSchemaIsJson) {
  for (const char* name : {"serve/error.schema.json", "serve/batch.schema.json",
                           "serve/batch_created.schema.json", "serve/run_request.schema.json",
                           "serve/session_request.schema.json", "serve/session.schema.json",
                           "serve/exec_request.schema.json", "serve/sessions_list.schema.json"}) {
    nlohmann::json s = Load(name);
    EXPECT_TRUE(s.is_object()) << name;
    EXPECT_EQ(s.value("$schema", ""), "https://json-schema.org/draft/2020-12/schema") << name;
  }
}

TEST(ServeSchema, SessionRequestsShareTheJobRecordsFields) {
  const nlohmann::json job = Load("job.schema.json");
  const nlohmann::json session = Load("serve/session_request.schema.json");
  const nlohmann::json exec = Load("serve/exec_request.schema.json");
  for (const char* field : {"limits", "network", "root", "env", "files"})
    EXPECT_EQ(session["properties"][field], job["properties"][field]) << field;
  for (const char* field : {"cmd", "shell", "stdin", "env", "cwd"})
    EXPECT_EQ(exec["properties"][field], job["properties"][field]) << field;
  // An exec is a command: cmd or shell, exactly one. A job may instead name a language preset
  // (docs/eval.md), which a session's exec cannot.
  EXPECT_EQ(exec["oneOf"],
            nlohmann::json::parse(R"([{"required": ["cmd"]}, {"required": ["shell"]}])"));
  EXPECT_EQ(job["not"], nlohmann::json::parse(R"({"required": ["cmd", "shell"]})"));
  for (const auto* s : {&session, &exec})
    for (const auto& [name, def] : (*s)["$defs"].items())
      EXPECT_EQ(def, job["$defs"][name]) << name;
  // An exec's limits are a part of the job's: the same rules, fewer names.
  const auto& limits = exec["properties"]["limits"]["properties"];
  EXPECT_EQ(limits.size(), 3u);
  for (const auto& [name, rule] : limits.items())
    EXPECT_EQ(rule, job["$defs"]["limits"]["properties"][name]) << name;
}

TEST(ServeSchema, TheSessionListHoldsTheSessionObject) {
  nlohmann::json session = Load("serve/session.schema.json");
  const nlohmann::json list = Load("serve/sessions_list.schema.json");
  for (const char* own : {"$schema", "$id", "title", "description"}) session.erase(own);
  EXPECT_EQ(list["$defs"]["session"], session) << "copy session.schema.json into $defs.session";
}

constexpr char kSession[] = R"({"id": "s-0123456789abcdef0123456789abcdef", "state": "running",
  "ended_reason": null, "created": "2026-01-02T03:04:05.678Z",
  "last_used": "2026-01-02T03:04:06.000Z", "idle_timeout_s": 600, "ttl_s": 3600,
  "network": "none", "root": "", "execs": 2,
  "limits": {"wall_ms": 10000, "cpu_ms": 10000, "memory_mb": 512, "disk_mb": 256, "pids": 128,
             "output_bytes": 1048576, "cpus": 1.0},
  "usage": {"memory_bytes": 1, "peak_memory_bytes": 2, "cpu_ms": 0.5, "pids": 1,
            "disk_bytes": 4096}})";

TEST(ServeSchema, SessionSchemasTakeWhatTheyShould) {
  EXPECT_TRUE(ValidAgainst("serve/session.schema.json", kSession));
  EXPECT_TRUE(ValidAgainst("serve/sessions_list.schema.json",
                           std::string(R"({"sessions": [)") + kSession + "]}"));
  EXPECT_TRUE(ValidAgainst("serve/sessions_list.schema.json", R"({"sessions": []})"));
  EXPECT_TRUE(ValidAgainst("serve/session_request.schema.json", "{}"));
  const std::string session_request =
      R"({"limits": {"memory_mb": 1024, "wall_ms": 60000}, "network": "none", "env": {"A": "1"},)"
      R"( "files": {"src/a.py": "x = 1"}, "idle_timeout_s": 60, "ttl_s": 600})";
  EXPECT_TRUE(ValidAgainst("serve/session_request.schema.json", session_request));
  const std::string exec_request =
      R"({"shell": "make test", "stdin": "", "env": {}, "cwd": "/workspace",)"
      R"( "limits": {"wall_ms": 1000, "cpu_ms": 1000, "output_bytes": 10}})";
  EXPECT_TRUE(ValidAgainst("serve/exec_request.schema.json", exec_request));
  const std::string gone =
      R"({"error": "session ended: idle", "field": null, "ended_reason": "idle"})";
  EXPECT_TRUE(ValidAgainst("serve/error.schema.json", gone));
}

TEST(ServeSchema, SessionSchemasRefuseWhatTheyShould) {
  nlohmann::json bad = nlohmann::json::parse(kSession);
  bad["state"] = "sleeping";
  EXPECT_FALSE(ValidAgainst("serve/session.schema.json", bad.dump()));
  bad = nlohmann::json::parse(kSession);
  bad["usage"].erase("disk_bytes");
  EXPECT_FALSE(ValidAgainst("serve/session.schema.json", bad.dump()));
  EXPECT_FALSE(ValidAgainst("serve/session_request.schema.json", R"({"cmd": ["true"]})"));
  EXPECT_FALSE(ValidAgainst("serve/session_request.schema.json", R"({"ttl_s": 0})"));
  EXPECT_FALSE(
      ValidAgainst("serve/exec_request.schema.json", R"({"cmd": ["true"], "shell": "true"})"));
  EXPECT_FALSE(ValidAgainst("serve/exec_request.schema.json", R"({"cwd": "/"})"));
  EXPECT_FALSE(ValidAgainst("serve/exec_request.schema.json",
                            R"({"cmd": ["true"], "limits": {"memory_mb": 64}})"));
}

}  // namespace
