// schema/serve/run_request.schema.json is schema/job.schema.json without its required "id" (a
// JSON Schema cannot take a requirement away from another by reference): this keeps them in step.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

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
                           "serve/batch_created.schema.json", "serve/run_request.schema.json"}) {
    nlohmann::json s = Load(name);
    EXPECT_TRUE(s.is_object()) << name;
    EXPECT_EQ(s.value("$schema", ""), "https://json-schema.org/draft/2020-12/schema") << name;
  }
}

}  // namespace
