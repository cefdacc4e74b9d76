// The server's batches: job lines spooled to the state dir as they arrive, then run through
// `brood run`'s flow graph (run::Runner) with the spool as its source and a results file as its
// sink; so the server's memory stays flat however large a batch, and a batch a server left
// unfinished (stopped, killed) is resumed exactly once by the next server on the same state dir.
//
//   STATE_DIR/lock                     held (flock) by the one server using the dir
//   STATE_DIR/batches/ID/jobs.jsonl    the request body as it came
//   STATE_DIR/batches/ID/results.jsonl one record a line, in the order they finished
//   STATE_DIR/batches/ID/meta.json     {"id", "state", "created_ms", "ended_ms", "error"}
//
// Threads: every method runs on the server's io thread, but for the runner threads (one per
// running batch) whose progress reaches the io thread through `post`.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "brood/engine.hpp"
#include "run/runner.hpp"
#include "server/metrics.hpp"
#include "server/request_job.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::server {

struct BatchStatus {
  std::string id;
  std::string state;  // "running", "done", "cancelled"
  uint64_t jobs_submitted = 0, jobs_done = 0;
  std::map<std::string, uint64_t> counts;  // by status
  std::string error;                       // why a batch ended early ("": none)
  std::string ToJson() const;
};

class Batch {
 public:
  Batch(std::string id, std::string dir) : id_(std::move(id)), dir_(std::move(dir)) {}
  const std::string& id() const { return id_; }
  std::string jobs_path() const { return dir_ + "/jobs.jsonl"; }
  std::string results_path() const { return dir_ + "/results.jsonl"; }
  BatchStatus Status() const;
  // Every record it will have is in its results file (done or cancelled, not stopped).
  bool finished() const;
  // DELETE ?forget=1 removed it: a results stream ends without its last chunk (the client's
  // reconnect then gets 404), not as if every record had come.
  bool forgotten() const;
  // io thread: `wake` runs (once) when the batch has written more records or finished.
  void AddWaiter(std::function<void()> wake) { waiters_.push_back(std::move(wake)); }

 private:
  friend class BatchStore;
  void Notify();  // io thread: wakes the waiters

  const std::string id_, dir_;
  mutable std::mutex mu_;
  std::string state_ = "running";
  bool finished_ = false;
  bool cancel_ = false, forget_ = false;
  uint64_t submitted_ = 0, done_ = 0;
  std::map<std::string, uint64_t> counts_;
  std::string error_;
  int64_t created_ms_ = 0, ended_ms_ = 0;
  run::Runner* runner_ = nullptr;  // while its graph runs
  std::vector<std::function<void()>> waiters_;

  // The upload (io thread): the spool file and how its lines are counted.
  sys::UniqueFd upload_;
  uint64_t upload_bytes_ = 0;
  bool line_has_text_ = false;
};

struct BatchOptions {
  std::string state_dir;
  JobPolicy policy;
  int64_t ttl_s = 24 * 3600;
  int max_running = 4;
  uint64_t max_bytes = 4ull << 30;
  std::string cache_partition;  // the clients' (SubmitOptions::cache_partition)
};

class BatchStore {
 public:
  // `post` runs a function on the io thread.
  BatchStore(Engine& engine, BatchOptions options, Metrics& metrics,
             std::function<void(std::function<void()>)> post, std::ostream& log);
  ~BatchStore();  // stops and joins the runners (Stop(0) unless Stop came first)

  // Locks the state dir, drops half-uploaded batches, loads the rest and resumes the unfinished.
  sys::Status Open();

  // An upload: a new batch, not visible until Commit. Append's error: 413 when the batch is
  // past max_bytes (kResourceExhausted), else the spool write failed (a full disk).
  sys::StatusOr<std::shared_ptr<Batch>> Begin();
  sys::Status Append(Batch& batch, std::string_view data);
  sys::Status Commit(const std::shared_ptr<Batch>& batch);  // visible, queued to run
  void Abort(const std::shared_ptr<Batch>& batch);          // removed

  std::shared_ptr<Batch> Find(const std::string& id) const;
  std::vector<std::string> Ids() const;  // oldest first
  // Ends what has not finished (state "cancelled"); `forget` also removes the batch (now from
  // the store; its files once its runner is gone). False: no such batch.
  bool Cancel(const std::string& id, bool forget);
  // Removes finished batches older than the ttl. Call now and then.
  void Expire();
  std::map<std::string, int> CountByState() const;

  // Shutdown: running batches stop (tasks still running after `grace_ms` are killed; their jobs
  // stay due for the next server); waiting ones are not started. Non-blocking.
  void Stop(int grace_ms);
  // After Stop: joins the runner threads. Blocks.
  void Join();
  bool running_any() const;

 private:
  void StartWaiting();  // io thread: starts runners while fewer than max_running run
  void RunBatch(std::shared_ptr<Batch> batch);      // a runner thread
  void Ended(const std::shared_ptr<Batch>& batch);  // io thread, after RunBatch
  sys::Status WriteMeta(const Batch& batch);
  std::string DirOf(const std::string& id) const { return opts_.state_dir + "/batches/" + id; }
  sys::Status Load(const std::string& id);

  Engine& engine_;
  BatchOptions opts_;
  Metrics& metrics_;
  std::function<void(std::function<void()>)> post_;
  std::ostream& log_;
  sys::UniqueFd lock_;
  std::unordered_map<std::string, std::shared_ptr<Batch>> batches_;
  std::list<std::shared_ptr<Batch>> waiting_;
  std::unordered_map<std::string, std::thread> runners_;
  std::atomic<bool> stopping_{false};  // read by runner threads
  std::atomic<int> stop_grace_ms_{0};
};

// 32 hex digits from getrandom(2): unguessable ids of batches (and sessions).
std::string RandomId();
// Milliseconds since the epoch.
int64_t NowMs();

}  // namespace brood::server
