// `brood serve` on the command line (docs/serve.md): its options and its run.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "brood/engine.hpp"
#include "brood/serve.hpp"

struct ServeArgs {
  brood::ServeOptions opts;
  std::string token_file;
  std::string max_limits;  // JSON: {"memory_mb": 2048, ...}
  int grace_s = 10;
};

void AddServeOptions(CLI::App* serve, ServeArgs& args, brood::EngineOptions& engine);
// Runs the server until SIGINT or SIGTERM (then drains for --grace-s). The exit code.
int RunServe(brood::EngineOptions engine_opts, ServeArgs args);
