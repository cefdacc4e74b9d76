// JobRun (include/brood/run.hpp): the run graph (run/runner.hpp) over a job file and a results
// file.
#include <memory>

#include "brood/run.hpp"
#include "reactor/reactor.hpp"
#include "run/file_sink.hpp"
#include "run/file_source.hpp"
#include "run/runner.hpp"

namespace brood {

struct JobRun::Impl {
  Impl(Engine& e, RunOptions o, std::ostream& l)
      : opts(std::move(o)),
        log(l),
        runner(e,
               {.ordered = opts.ordered,
                .progress = opts.progress,
                .summary_json = opts.summary_json,
                .maxima = opts.maxima},
               l) {}
  int Run();

  RunOptions opts;
  std::ostream& log;
  run::Runner runner;
  // Kept until the JobRun goes: the source's line counter may still be reading.
  std::unique_ptr<run::FileSink> sink;
  std::unique_ptr<run::FileSource> source;
};

int RunInFlight(int slots) { return run::MaxInFlight(slots); }

JobRun::JobRun(Engine& engine, RunOptions options, std::ostream& log)
    : impl_(std::make_unique<Impl>(engine, std::move(options), log)) {}
JobRun::~JobRun() = default;
int JobRun::Run() { return impl_->Run(); }
void JobRun::Stop(int grace_ms) { impl_->runner.Stop(grace_ms); }

int JobRun::Impl::Run() {
  const int64_t start_ns = reactor::NowNs();
  auto s = run::FileSink::Open(opts.results, opts.resume, 64 * 1024);
  if (!s.ok()) {
    log << "brood run: " << s.status().message() << "\n";
    return 1;
  }
  sink = std::move(s.value());
  if (sink->torn_line_removed())
    log << "brood run: " << opts.results << ": removed a torn last line; that job runs again\n";
  auto in = run::FileSource::Open(opts.jobs, opts.progress);
  if (!in.ok()) {
    log << "brood run: " << in.status().message() << "\n";
    return 1;
  }
  source = std::move(in.value());
  return runner.Run(*source, *sink, start_ns);
}

}  // namespace brood
