#include "run/file_sink.hpp"

namespace brood::run {

sys::StatusOr<std::unique_ptr<FileSink>> FileSink::Open(const std::string& path, bool resume,
                                                        size_t flush_bytes) {
  jobs::ResumeState state;
  if (resume) {
    auto loaded = jobs::LoadResume(path);
    if (!loaded.ok()) return loaded.status().Wrap("--resume");
    state = std::move(loaded.value());
  }
  auto writer = jobs::ResultWriter::Open(path, resume, flush_bytes);
  if (!writer.ok()) return writer.status();
  std::unique_ptr<FileSink> sink(new FileSink(std::move(writer.value())));
  sink->done_ = std::move(state.done);
  sink->torn_line_removed_ = state.torn_line_removed;
  return sink;
}

sys::Status FileSink::Write(std::string_view record) {
  ++taken_;
  sys::Status s = writer_.Write(record);
  if (s.ok() && writer_.buffered() == 0) durable_ = taken_;  // the write flushed the buffer
  return s;
}

sys::Status FileSink::Flush() {
  sys::Status s = writer_.Flush();
  if (s.ok()) durable_ = taken_;
  return s;
}

}  // namespace brood::run
