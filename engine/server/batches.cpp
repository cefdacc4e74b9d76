#include "server/batches.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run/file_sink.hpp"
#include "run/file_source.hpp"

namespace brood::server {
namespace fs = std::filesystem;
namespace {

// The top-level "status" of a record brood wrote. A string value cannot hold an unescaped
// quote, and "status" comes before any nested object in ResultToJson's order, so the first
// `"status":"` is the record's own.
std::string StatusOfRecord(std::string_view record) {
  constexpr std::string_view kKey = "\"status\":\"";
  const size_t at = record.find(kKey);
  if (at == std::string_view::npos) return "unknown";
  const size_t from = at + kKey.size();
  const size_t end = record.find('"', from);
  return std::string(record.substr(from, end == std::string_view::npos ? 0 : end - from));
}

bool IsBlank(std::string_view line) { return line.find_first_not_of(" \t\r") == line.npos; }

class NullBuf : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
};

}  // namespace

std::string RandomId() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string BatchStatus::ToJson() const {
  nlohmann::ordered_json j = {{"id", id},
                              {"state", state},
                              {"jobs_submitted", jobs_submitted},
                              {"jobs_done", jobs_done},
                              {"counts", counts}};
  if (!error.empty()) j["error"] = error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

BatchStatus Batch::Status() const {
  std::lock_guard lock(mu_);
  return {id_, state_, submitted_, done_, counts_, error_};
}

bool Batch::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

bool Batch::forgotten() const {
  std::lock_guard lock(mu_);
  return forget_;
}

void Batch::Notify() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& wake : waiters) wake();
}

BatchStore::BatchStore(Engine& engine, BatchOptions options, Metrics& metrics,
                       std::function<void(std::function<void()>)> post, std::ostream& log)
    : engine_(engine),
      opts_(std::move(options)),
      metrics_(metrics),
      post_(std::move(post)),
      log_(log) {}

BatchStore::~BatchStore() {
  if (!stopping_) Stop(0);
  Join();
}

sys::Status BatchStore::Open() {
  std::error_code ec;
  fs::create_directories(opts_.state_dir + "/batches", ec);
  if (ec) return sys::Status::Error("--state-dir " + opts_.state_dir + ": " + ec.message());
  const std::string lock_path = opts_.state_dir + "/lock";
  lock_ = sys::UniqueFd(open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_) return sys::PosixError("open(" + lock_path + ")");
  if (flock(lock_.get(), LOCK_EX | LOCK_NB) != 0)
    return sys::Status::Error("--state-dir " + opts_.state_dir +
                              " is in use by another brood serve");
  for (const auto& entry : fs::directory_iterator(opts_.state_dir + "/batches", ec)) {
    const std::string id = entry.path().filename().string();
    sys::Status s = Load(id);
    if (!s.ok()) log_ << "brood serve: batch " << id << ": " << s.message() << "\n";
  }
  StartWaiting();
  return sys::OkStatus();
}

sys::Status BatchStore::Load(const std::string& id) {
  const std::string dir = DirOf(id);
  std::ifstream meta_in(dir + "/meta.json");
  auto meta = nlohmann::json::parse(meta_in, nullptr, /*allow_exceptions=*/false);
  std::error_code ec;
  if (!meta.is_object() || meta.value("id", "") != id) {  // an upload that never completed
    fs::remove_all(dir, ec);
    return sys::Status::Error("an upload that did not complete: removed");
  }
  auto b = std::make_shared<Batch>(id, dir);
  b->state_ = meta.value("state", "running");
  b->created_ms_ = meta.value("created_ms", int64_t{0});
  b->ended_ms_ = meta.value("ended_ms", int64_t{0});
  b->error_ = meta.value("error", "");
  b->finished_ = b->state_ != "running";
  {
    std::ifstream jobs(b->jobs_path());
    for (std::string line; std::getline(jobs, line);) b->submitted_ += !IsBlank(line);
  }
  {
    std::ifstream results(b->results_path());
    uint64_t whole = 0;  // bytes up to the last newline
    for (std::string line; std::getline(results, line);) {
      if (results.eof()) break;  // a torn last line (a server killed mid-write)
      whole += line.size() + 1;
      ++b->done_;
      ++b->counts_[StatusOfRecord(line)];
    }
    // Cut the torn line now, before any reader can see it: its job is run again.
    struct stat st {};
    if (stat(b->results_path().c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > whole &&
        truncate(b->results_path().c_str(), static_cast<off_t>(whole)) != 0)
      return sys::PosixError("truncate(" + b->results_path() + ")");
  }
  batches_[id] = b;
  if (!b->finished_) waiting_.push_back(b);
  return sys::OkStatus();
}

sys::StatusOr<std::shared_ptr<Batch>> BatchStore::Begin() {
  if (stopping_) return sys::Status::Error(ErrorKind::kCancelled, "the server is stopping");
  const std::string id = RandomId();
  const std::string dir = DirOf(id);
  if (mkdir(dir.c_str(), 0700) != 0) return sys::PosixError("mkdir(" + dir + ")");
  auto b = std::make_shared<Batch>(id, dir);
  const std::string path = b->jobs_path();
  b->upload_ = sys::UniqueFd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!b->upload_) {
    auto s = sys::PosixError("open(" + path + ")");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return s;
  }
  b->created_ms_ = NowMs();
  return b;
}

sys::Status BatchStore::Append(Batch& b, std::string_view data) {
  b.upload_bytes_ += data.size();
  if (b.upload_bytes_ > opts_.max_bytes)
    return sys::Status::Error(ErrorKind::kResourceExhausted,
                              "the batch is larger than the server's limit of " +
                                  std::to_string(opts_.max_bytes) + " bytes");
  for (char c : data) {
    if (c == '\n') {
      b.submitted_ += b.line_has_text_;
      b.line_has_text_ = false;
    } else if (c != ' ' && c != '\t' && c != '\r') {
      b.line_has_text_ = true;
    }
  }
  while (!data.empty()) {
    ssize_t n = write(b.upload_.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::PosixError("write(" + b.jobs_path() + ")");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return sys::OkStatus();
}

sys::Status BatchStore::Commit(const std::shared_ptr<Batch>& b) {
  b->submitted_ += b->line_has_text_;  // a last line without a newline
  if (fdatasync(b->upload_.get()) != 0) return sys::PosixError("fdatasync(" + b->jobs_path() + ")");
  b->upload_.reset();
  if (sys::Status s = WriteMeta(*b); !s.ok()) return s;
  batches_[b->id()] = b;
  waiting_.push_back(b);
  StartWaiting();
  return sys::OkStatus();
}

void BatchStore::Abort(const std::shared_ptr<Batch>& b) {
  b->upload_.reset();
  std::error_code ec;
  fs::remove_all(DirOf(b->id()), ec);
}

sys::Status BatchStore::WriteMeta(const Batch& b) {
  nlohmann::json meta;
  {
    std::lock_guard lock(b.mu_);
    meta = {{"id", b.id_},
            {"state", b.state_},
            {"created_ms", b.created_ms_},
            {"ended_ms", b.ended_ms_},
            {"error", b.error_}};
  }
  const std::string path = DirOf(b.id()) + "/meta.json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    out.flush();
    if (!out) return sys::Status::Error("write(" + tmp + ") failed");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return sys::PosixError("rename(" + tmp + ")");
  return sys::OkStatus();
}

std::shared_ptr<Batch> BatchStore::Find(const std::string& id) const {
  auto it = batches_.find(id);
  return it == batches_.end() ? nullptr : it->second;
}

std::vector<std::string> BatchStore::Ids() const {
  std::vector<std::pair<int64_t, std::string>> by_age;
  for (const auto& [id, b] : batches_) by_age.emplace_back(b->created_ms_, id);
  std::sort(by_age.begin(), by_age.end());
  std::vector<std::string> ids;
  for (auto& [created, id] : by_age) ids.push_back(std::move(id));
  return ids;
}

bool BatchStore::Cancel(const std::string& id, bool forget) {
  auto it = batches_.find(id);
  if (it == batches_.end()) return false;
  std::shared_ptr<Batch> b = it->second;
  bool has_runner;
  {
    std::lock_guard lock(b->mu_);
    if (!b->finished_) {
      b->cancel_ = true;
      b->state_ = "cancelled";  // already: DELETE answers it (its runner stops just after)
      if (b->runner_) b->runner_->Stop(0);
    }
    b->forget_ = b->forget_ || forget;
    has_runner = runners_.count(id) > 0;
  }
  if (!has_runner && !b->finished()) {  // waiting: never started
    waiting_.remove(b);
    {
      std::lock_guard lock(b->mu_);
      b->state_ = "cancelled";
      b->finished_ = true;
      b->ended_ms_ = NowMs();
    }
    (void)WriteMeta(*b);
    b->Notify();
  }
  if (forget) {
    batches_.erase(it);
    if (!has_runner) {
      std::error_code ec;
      fs::remove_all(DirOf(id), ec);
    }
  }
  return true;
}

void BatchStore::Expire() {
  const int64_t now = NowMs();
  for (auto it = batches_.begin(); it != batches_.end();) {
    int64_t ended;
    {
      std::lock_guard lock(it->second->mu_);
      ended = it->second->finished_ ? it->second->ended_ms_ : 0;
    }
    if (ended != 0 && now - ended > opts_.ttl_s * 1000 && !runners_.count(it->first)) {
      std::error_code ec;
      fs::remove_all(DirOf(it->first), ec);
      it = batches_.erase(it);
    } else {
      ++it;
    }
  }
}

std::map<std::string, int> BatchStore::CountByState() const {
  std::map<std::string, int> n = {{"running", 0}, {"done", 0}, {"cancelled", 0}};
  for (const auto& [id, b] : batches_) ++n[b->Status().state];
  return n;
}

void BatchStore::StartWaiting() {
  while (!stopping_ && !waiting_.empty() && static_cast<int>(runners_.size()) < opts_.max_running) {
    std::shared_ptr<Batch> b = waiting_.front();
    waiting_.pop_front();
    runners_[b->id()] = std::thread([this, b] { RunBatch(b); });
  }
}

void BatchStore::RunBatch(std::shared_ptr<Batch> b) {
  auto source = run::FileSource::Open(b->jobs_path(), false);
  const bool resume = access(b->results_path().c_str(), F_OK) == 0;
  auto sink = source.ok() ? run::FileSink::Open(b->results_path(), resume, 0)
                          : sys::StatusOr<std::unique_ptr<run::FileSink>>(source.status());
  int code = 1;
  if (source.ok() && sink.ok()) {
    run::RunnerOptions ro;
    ro.maxima = opts_.policy.maxima;
    ro.cache_partition = opts_.cache_partition;
    ro.check_job = [policy = opts_.policy](const Job& job) { return CheckPolicy(job, policy); };
    ro.on_record = [this, b](const Result& r) {
      metrics_.ObserveTask(r);
      {
        std::lock_guard lock(b->mu_);
        ++b->done_;
        ++b->counts_[StatusName(r.status)];
      }
      post_([b] { b->Notify(); });
    };
    NullBuf null_buf;
    std::ostream null_log(&null_buf);
    run::Runner runner(engine_, ro, null_log);
    {
      std::lock_guard lock(b->mu_);
      b->runner_ = &runner;
      if (b->cancel_ || stopping_) runner.Stop(b->cancel_ ? 0 : stop_grace_ms_.load());
    }
    code = runner.Run(*source.value(), *sink.value());
    std::lock_guard lock(b->mu_);
    b->runner_ = nullptr;
  } else {
    std::lock_guard lock(b->mu_);
    b->error_ = (source.ok() ? sink.status() : source.status()).message();
  }
  {
    std::lock_guard lock(b->mu_);
    if (b->cancel_) {
      b->state_ = "cancelled";
    } else if (code == 0) {
      b->state_ = "done";
    } else if (!b->error_.empty() || !stopping_) {
      b->state_ = "cancelled";  // its spool could not be read or its results not written
      if (b->error_.empty()) b->error_ = "the batch's results could not be written";
    }
    // else: stopped by the server's shutdown: still "running" on disk, resumed by the next one.
    b->finished_ = b->state_ != "running";
    if (b->finished_) b->ended_ms_ = NowMs();
  }
  post_([this, b] { Ended(b); });
}

void BatchStore::Ended(const std::shared_ptr<Batch>& b) {
  if (auto it = runners_.find(b->id()); it != runners_.end()) {
    it->second.join();
    runners_.erase(it);
  }
  bool forget;
  {
    std::lock_guard lock(b->mu_);
    forget = b->forget_;
  }
  if (forget) {
    std::error_code ec;
    fs::remove_all(DirOf(b->id()), ec);
  } else if (b->finished()) {
    sys::Status s = WriteMeta(*b);
    if (!s.ok()) log_ << "brood serve: batch " << b->id() << ": " << s.message() << "\n";
  }
  b->Notify();
  StartWaiting();
}

void BatchStore::Stop(int grace_ms) {
  stopping_ = true;
  stop_grace_ms_ = grace_ms;
  for (auto& [id, b] : batches_) {
    std::lock_guard lock(b->mu_);
    if (b->runner_) b->runner_->Stop(grace_ms);
  }
}

void BatchStore::Join() {
  for (auto& [id, t] : runners_)
    if (t.joinable()) t.join();
  runners_.clear();
}

bool BatchStore::running_any() const { return !runners_.empty(); }

}  // namespace brood::server
