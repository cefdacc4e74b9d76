// `brood run` as a TBB flow graph:
//
//   read (serial) -> window limiter -> parse (parallel) -> sequencer -> admit (serial)
//     admit: runnable -> slot limiter -> run (async: the engine's reactor completes it)
//            invalid / skipped ---------------------------------------------.
//   -> finish (parallel: judge, serialize) -> [sequencer if --ordered] -> write (serial)
//
// A flow graph rather than parallel_pipeline because tasks complete outside TBB (on the
// reactor thread): the async node gives a worker back while a task runs, and the two limiters
// are the back-pressure: the window bounds lines in memory (also the --ordered hold-back), the
// slot limiter keeps submissions at twice the engine's slots plus one batch (never a full engine
// queue; Submit never blocks a worker).
// Completions enter the graph in batches, from the thread that called Run: a TBB worker woken
// for one result spins (~100 sched_yield calls) before it sleeps again, which cost more CPU than
// the result's own processing (docs/performance.md). A batch goes in once it holds
// kCompletionBatch results, when its oldest is kMaxHoldMs old, when nothing else is running, or
// when the run stops; the engine keeps a batch's worth of jobs more queued, so that no slot waits
// for a batch.
// The graph reads from a JobSource and writes through an Output to a ResultSink.
#include "run/runner.hpp"

#include <oneapi/tbb/flow_graph.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "reactor/reactor.hpp"
#include "run/admission.hpp"
#include "run/output.hpp"

namespace brood::run {

namespace flow = oneapi::tbb::flow;

struct Runner::Impl {
  Impl(Engine& e, RunnerOptions o, std::ostream& l)
      : engine(e), group(e.NewGroup()), opts(std::move(o)), log(l) {}
  int Run(JobSource& source, ResultSink& sink);
  int Report(const JobSource& source, const Output& output);
  void Stop(int grace_ms);

  Engine& engine;
  const uint64_t group;  // this run's jobs: Stop cancels them and no other client's
  RunnerOptions opts;
  std::ostream& log;
  int64_t start_ns = 0;
  std::atomic<bool> stopping{false};
  std::mutex cancel_mu;
  std::condition_variable cancel_cv;
  bool finished = false;
  std::thread canceller;

  bool input_done = false;  // the reader saw the end of the input

  // The main thread sleeps on `wake` rather than spinning in wait_for_all (TBB's waiting
  // thread yields in a loop while tasks are out in the engine: ~1.5 ms of CPU a task), and
  // hands the engine's results to the graph in batches (Completed, FeedCompletions).
  std::mutex drain_mu;
  std::condition_variable wake;
  uint64_t produced = 0, written = 0;
  bool input_finished = false;
  std::vector<WorkPtr> completed;  // results not yet handed to the graph
  int64_t oldest_ns = 0;           // when the first of them came
  uint64_t running = 0;            // submitted to the engine, no result yet
  void Produced(bool last);
  void Written();
  void Submitted();
  void Completed(WorkPtr item);
  template <typename Gateway>
  void FeedCompletions(Gateway& gw);
};

Runner::Runner(Engine& engine, RunnerOptions options, std::ostream& log)
    : impl_(std::make_unique<Impl>(engine, std::move(options), log)) {}
Runner::~Runner() {
  {
    std::lock_guard lock(impl_->cancel_mu);
    impl_->finished = true;
  }
  impl_->cancel_cv.notify_all();
  if (impl_->canceller.joinable()) impl_->canceller.join();
}
int Runner::Run(JobSource& source, ResultSink& sink, int64_t start_ns) {
  impl_->start_ns = start_ns ? start_ns : reactor::NowNs();
  return impl_->Run(source, sink);
}
void Runner::Stop(int grace_ms) { impl_->Stop(grace_ms); }

void Runner::Impl::Stop(int grace_ms) {
  if (stopping.exchange(true)) return;
  {
    std::lock_guard lock(drain_mu);  // results held for a batch go in now
    wake.notify_all();
  }
  canceller = std::thread([this, grace_ms] {
    std::unique_lock lock(cancel_mu);
    if (!cancel_cv.wait_for(lock, std::chrono::milliseconds(grace_ms), [&] { return finished; }))
      engine.CancelGroup(group);
  });
}

int MaxInFlight(int slots) { return 2 * std::max(1, slots) + kCompletionBatch; }

void Runner::Impl::Produced(bool last) {
  std::lock_guard lock(drain_mu);
  if (last)
    input_finished = true;
  else
    ++produced;
  if (input_finished && written == produced) wake.notify_all();
}

void Runner::Impl::Written() {
  std::lock_guard lock(drain_mu);
  ++written;
  if (input_finished && written == produced) wake.notify_all();
}

void Runner::Impl::Submitted() {
  std::lock_guard lock(drain_mu);
  ++running;
}

// On the engine's reactor thread: never blocks, never enters TBB.
void Runner::Impl::Completed(WorkPtr item) {
  std::lock_guard lock(drain_mu);
  if (completed.empty()) oldest_ns = reactor::NowNs();
  completed.push_back(std::move(item));
  --running;
  if (completed.size() >= static_cast<size_t>(kCompletionBatch) || running == 0) wake.notify_all();
}

// The thread that called Run, until every line is written: hands results to the graph when a
// batch is due (see the top of this file).
template <typename Gateway>
void Runner::Impl::FeedCompletions(Gateway& gw) {
  constexpr int64_t kMaxHoldNs = kMaxHoldMs * 1'000'000LL;
  std::unique_lock lock(drain_mu);
  for (;;) {
    if (completed.empty()) {
      if (input_finished && written == produced) return;
      wake.wait(lock);
      continue;
    }
    const bool due = completed.size() >= static_cast<size_t>(kCompletionBatch) || running == 0 ||
                     stopping || reactor::NowNs() >= oldest_ns + kMaxHoldNs;
    if (!due) {
      wake.wait_for(lock, std::chrono::nanoseconds(oldest_ns + kMaxHoldNs - reactor::NowNs()));
      continue;
    }
    std::vector<WorkPtr> batch;
    batch.swap(completed);
    lock.unlock();
    for (WorkPtr& item : batch) {
      gw.try_put(item);
      gw.release_wait();
    }
    lock.lock();
  }
}

int Runner::Impl::Run(JobSource& source, ResultSink& sink) {
  auto done = sink.DoneKeys();
  if (!done.ok()) {
    log << "brood run: " << done.status().message() << "\n";
    return 1;
  }
  Output output(source, sink, opts.progress, start_ns, log, opts.on_record);

  const int slots = std::max(1, engine.Info().slots);
  const size_t window = static_cast<size_t>(4 * slots + 64);
  Admission admission(std::move(done.value()));
  uint64_t next_seq = 0;

  flow::graph g;
  flow::input_node<WorkPtr> read(g, [&](oneapi::tbb::flow_control& fc) -> WorkPtr {
    auto item = std::make_shared<Work>();
    if (stopping) {
      Produced(/*last=*/true);
      fc.stop();
      return nullptr;
    }
    if (!source.Next(&item->line)) {
      input_done = true;
      Produced(/*last=*/true);
      fc.stop();
      return nullptr;
    }
    item->seq = next_seq++;
    Produced(/*last=*/false);
    return item;
  });
  flow::limiter_node<WorkPtr> window_limit(g, window);
  flow::function_node<WorkPtr, WorkPtr> parse(g, flow::unlimited, [&](WorkPtr item) {
    if (!item->line.too_long) item->parsed = jobs::ParseJobLine(item->line.text, opts.maxima);
    if (item->parsed.job && opts.check_job) {
      std::string error = opts.check_job(*item->parsed.job);
      if (!error.empty()) {
        item->parsed.error = std::move(error);
        item->parsed.job.reset();
      }
    }
    return item;
  });
  auto by_seq = [](const WorkPtr& item) { return static_cast<size_t>(item->seq); };
  flow::sequencer_node<WorkPtr> in_order(g, by_seq);
  using Admit = flow::multifunction_node<WorkPtr, std::tuple<WorkPtr, WorkPtr>>;
  Admit admit(g, flow::serial, [&](WorkPtr item, Admit::output_ports_type& out) {
    admission.Decide(*item);
    if (item->kind == Work::kRun && stopping) item->kind = Work::kStopped;
    if (item->kind == Work::kRun)
      std::get<0>(out).try_put(item);
    else
      std::get<1>(out).try_put(item);
  });
  // A limiter does not buffer, and a multifunction port cannot hold an item it refuses: the
  // queue keeps runnable jobs until the limiter pulls them.
  flow::queue_node<WorkPtr> runnable(g);
  // Twice the slots: a job waits in the engine's queue for each slot, so a slot that frees up
  // starts its next task at once instead of waiting for the graph to submit one.
  flow::limiter_node<WorkPtr> slot_limit(g, static_cast<size_t>(MaxInFlight(slots)));
  using RunNode = flow::async_node<WorkPtr, WorkPtr>;
  // Serial: jobs reach the engine in the order of the job file. A batch of results frees several
  // places at once, and unlimited concurrency would submit those jobs as TBB tasks, last first.
  RunNode run(g, flow::serial, [&](WorkPtr item, RunNode::gateway_type& gw) {
    gw.reserve_wait();
    if (stopping) {  // queued before the stop: not started, not written, run again by --resume
      item->not_started = true;
      gw.try_put(item);
      gw.release_wait();
      return;
    }
    std::string id = item->parsed.job->id;
    Submitted();
    Submission taken = engine.Submit(std::move(*item->parsed.job),
                                     [this, item](Result r) {
                                       item->result = std::move(r);
                                       Completed(item);
                                     },
                                     {.group = group, .cache_partition = opts.cache_partition});
    if (!taken.ok()) {  // an engine shared with others whose queue is full: the job's result
      {
        std::lock_guard lock(drain_mu);
        --running;
      }
      item->result.id = std::move(id);
      item->result.status = TaskStatus::kSandboxError;
      item->result.error_kind = taken.error_kind;
      item->result.error = std::move(taken.error);
      gw.try_put(item);
      gw.release_wait();
    }
  });
  // Serial unless --ordered (whose sequencer puts records in order after it): records are written
  // in the order the tasks finished (docs/cli.md), which a batch handed to parallel workers at
  // once would shuffle.
  flow::function_node<WorkPtr, WorkPtr> finish(
      g, opts.ordered ? flow::unlimited : flow::serial, [&](WorkPtr item) {
        if (item->kind == Work::kRun) slot_limit.decrementer().try_put(flow::continue_msg());
        if (item->not_started) item->kind = Work::kStopped;
        if (item->kind == Work::kRun) {
          // An invalid job the engine refused names its line as the parser's invalid jobs do
          // (and --resume keys it by that line).
          item->result.line = item->result.status == TaskStatus::kInvalidJob
                                  ? std::optional<int64_t>(item->line.number)
                                  : std::nullopt;
        }
        if (item->kind == Work::kRun || item->kind == Work::kResult)
          item->json = ResultToJson(item->result);
        return item;
      });
  flow::sequencer_node<WorkPtr> out_order(g, by_seq);
  flow::function_node<WorkPtr, flow::continue_msg> write(g, flow::serial, [&](WorkPtr item) {
    if (!output.Add(*item)) Stop(0);
    Written();
    return flow::continue_msg();
  });

  flow::make_edge(read, window_limit);
  flow::make_edge(window_limit, parse);
  flow::make_edge(parse, in_order);
  flow::make_edge(in_order, admit);
  flow::make_edge(flow::output_port<0>(admit), runnable);
  flow::make_edge(runnable, slot_limit);
  flow::make_edge(slot_limit, run);
  flow::make_edge(run, finish);
  flow::make_edge(flow::output_port<1>(admit), finish);
  if (opts.ordered) {
    flow::make_edge(finish, out_order);
    flow::make_edge(out_order, write);
  } else {
    flow::make_edge(finish, write);
  }
  flow::make_edge(write, window_limit.decrementer());
  read.activate();
  FeedCompletions(run.gateway());
  g.wait_for_all();  // nothing is left by now: this returns at once
  output.Finish();
  return Report(source, output);
}

// The summary, then why the run failed, if it did.
int Runner::Impl::Report(const JobSource& source, const Output& output) {
  const double elapsed = (reactor::NowNs() - start_ns) / 1e9;
  if (opts.progress) log << "\r\033[K";
  log << output.summary().Text(elapsed);
  if (!opts.summary_json.empty()) {
    std::ofstream f(opts.summary_json);
    f << output.summary().Json(elapsed) << "\n";
    if (!f) log << "brood run: cannot write " << opts.summary_json << "\n";
  }
  if (const sys::Status read_error = source.error(); !read_error.ok()) {
    log << "brood run: " << read_error.message() << "\n";
    return 1;
  }
  if (!output.write_error().ok()) {
    log << "brood run: " << output.write_error().message()
        << "; the results so far are whole lines: rerun with --resume once there is room\n";
    return 1;
  }
  if (stopping && (!input_done || output.not_run() > 0)) {
    log << "brood run: stopped before every job had a result (" << output.not_run()
        << " started or queued were not written); rerun with --resume to finish\n";
    return 1;
  }
  return 0;
}

}  // namespace brood::run
