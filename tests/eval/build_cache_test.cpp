// The build cache (docs/build-cache.md): hits return what was stored byte for byte; every field of
// the key counts; the directory stays within its bound, least recently used first, also across a
// restart and between two caches over one directory; an entry that is not exactly what brood
// wrote is a miss and is removed; Open refuses a directory others could write into.
#include "eval/build_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/status_matchers.hpp"

namespace brood::eval {
namespace {

namespace fs = std::filesystem;
using cache_format::Encode;
using cache_format::EncodeBody;
using cache_format::Problem;
using cache_format::Seal;

constexpr uint64_t kBig = 64u << 20;

std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  return s + std::string("\0\0\xff\n", 4);
}

CacheEntry Sample() {
  CacheEntry e;
  e.build.status = TaskStatus::kOk;
  e.build.exit_code = 0;
  e.build.stdout_data = "compiled\n";
  e.build.stderr_data = std::string("warn\0\xfe", 6);
  e.build.stdout_truncated = true;
  e.build.wall_ms = 1234.5;
  e.build.cpu_ms = 987.25;
  e.build.peak_memory_bytes = 123456789;
  e.files = {{"main", AllBytes()},
             {"empty", ""},
             {"out/obj/deep/a.o", std::string(5000, '\x7f')},
             {"out/log.txt", "log"},
             {"a-b", "dash sorts before slash"}};
  return e;
}

// An entry whose encoding has the same size for every `tag` of one length.
CacheEntry Sized(const std::string& tag, size_t content = 1000) {
  CacheEntry e;
  e.build.status = TaskStatus::kFailed;
  e.build.exit_code = 1;
  e.build.signal = std::nullopt;
  e.build.error = "compile error in " + tag;
  e.files = {{"bin/" + tag, std::string(content, tag[0])}};
  return e;
}

void ExpectSame(const CacheEntry& got, const CacheEntry& want) {
  const BuildResult &g = got.build, &w = want.build;
  EXPECT_EQ(g.status, w.status);
  EXPECT_EQ(g.exit_code, w.exit_code);
  EXPECT_EQ(g.signal, w.signal);
  EXPECT_EQ(g.stdout_data, w.stdout_data);
  EXPECT_EQ(g.stderr_data, w.stderr_data);
  EXPECT_EQ(g.stdout_truncated, w.stdout_truncated);
  EXPECT_EQ(g.stderr_truncated, w.stderr_truncated);
  EXPECT_EQ(g.wall_ms, w.wall_ms);
  EXPECT_EQ(g.cpu_ms, w.cpu_ms);
  EXPECT_EQ(g.peak_memory_bytes, w.peak_memory_bytes);
  EXPECT_FALSE(g.cached) << "the cache keeps the build as it ran; the caller marks a hit";
  EXPECT_EQ(g.error, w.error);
  EXPECT_EQ(got.files, want.files);
}

BuildKey SampleKey() {
  BuildKey k;
  k.partition = "token-digest";
  k.profile = "root=default:/usr;network=none";
  k.argv = {"g++", "-O2", "-o", "main", "main.cpp"};
  k.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
  k.files = {{"main.cpp", "int main() {}"}, {"lib/x.h", ""}};
  k.cwd = "/workspace";
  return k;
}

std::string DigestOf(const std::string& tag) {
  BuildKey k = SampleKey();
  k.argv.push_back(tag);
  return BuildCache::Digest(k);
}

class BuildCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/brood-build-cache-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    root_ = tmpl;
    dir_ = root_ + "/cache";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<BuildCache> OpenCache(uint64_t max_bytes = kBig) {
    auto cache = BuildCache::Open(dir_, max_bytes);
    EXPECT_OK(cache);
    return cache.ok() ? std::move(cache).value() : nullptr;
  }
  bool Exists(const std::string& name) const {
    struct stat st;
    return lstat((dir_ + "/" + name).c_str(), &st) == 0;
  }
  void Plant(const std::string& name, const std::string& bytes) const {
    int fd = open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  // The names in the cache directory.
  std::set<std::string> Names() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename());
    return out;
  }

  std::string root_, dir_;
};

TEST_F(BuildCacheTest, MissThenHitWithTheSameBytes) {
  auto cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "Open makes the directory 0700";

  std::string d = BuildCache::Digest(SampleKey());
  EXPECT_FALSE(cache->Lookup(d));
  CacheEntry e = Sample();
  cache->Store(d, e);
  auto got = cache->Lookup(d);
  ASSERT_TRUE(got);
  ExpectSame(*got, e);
  EXPECT_EQ(got->files.at("main").size(), 260u) << "binary bytes, NULs included";
  EXPECT_EQ(got->files.at("empty"), "") << "an empty file is kept";

  ASSERT_EQ(stat((dir_ + "/" + d).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(cache->bytes(), static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(cache->bytes(), Encode(d, e).size());
  BuildCache::Stats s = cache->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.stores, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(Names(), std::set<std::string>{d}) << "no temporary file is left behind";

  // An error is kept, an absent exit code stays absent; a second Store replaces the first.
  e.build.exit_code.reset();
  e.build.signal = 9;
  e.build.error = "";
  cache->Store(d, e);
  got = cache->Lookup(d);
  ASSERT_TRUE(got);
  ExpectSame(*got, e);
  EXPECT_EQ(cache->stats().entries, 1u);
  EXPECT_EQ(cache->bytes(), Encode(d, e).size());
}

TEST_F(BuildCacheTest, DigestIsHexAndStable) {
  std::string d = BuildCache::Digest(SampleKey());
  ASSERT_EQ(d.size(), 64u);
  EXPECT_EQ(d.find_first_not_of("0123456789abcdef"), std::string::npos) << d;
  EXPECT_EQ(BuildCache::Digest(SampleKey()), d);
  // cpu_ms 0 means "= wall_ms": the same build.
  BuildKey a = SampleKey(), b = SampleKey();
  a.limits.cpu_ms = 0;
  b.limits.cpu_ms = b.limits.wall_ms;
  EXPECT_EQ(BuildCache::Digest(a), BuildCache::Digest(b));
}

TEST_F(BuildCacheTest, EveryFieldChangesTheDigest) {
  std::vector<std::pair<std::string, std::function<void(BuildKey&)>>> changes = {
      {"partition", [](BuildKey& k) { k.partition += "x"; }},
      {"partition empty", [](BuildKey& k) { k.partition.clear(); }},
      {"profile", [](BuildKey& k) { k.profile = "root=java"; }},
      {"partition/profile boundary",
       [](BuildKey& k) {
         k.partition += k.profile.substr(0, 1);
         k.profile.erase(0, 1);
       }},
      {"argv element", [](BuildKey& k) { k.argv[1] = "-O3"; }},
      {"argv split",
       [](BuildKey& k) {
         k.argv = {"g++ -O2", "-o", "main", "main.cpp"};
       }},
      {"argv empty arg", [](BuildKey& k) { k.argv.push_back(""); }},
      {"argv order", [](BuildKey& k) { std::swap(k.argv[2], k.argv[3]); }},
      {"env value", [](BuildKey& k) { k.env["LANG"] = "C"; }},
      {"env name",
       [](BuildKey& k) {
         k.env["LC_ALL"] = k.env["LANG"];
         k.env.erase("LANG");
       }},
      {"env added", [](BuildKey& k) { k.env["X"] = ""; }},
      {"files content", [](BuildKey& k) { k.files["main.cpp"] += " "; }},
      {"files path",
       [](BuildKey& k) {
         k.files["lib/y.h"] = "";
         k.files.erase("lib/x.h");
       }},
      {"files added", [](BuildKey& k) { k.files["empty"] = ""; }},
      {"files to env",  // the same strings in another field
       [](BuildKey& k) {
         k.env.insert(k.files.begin(), k.files.end());
         k.files.clear();
       }},
      {"limits.wall_ms", [](BuildKey& k) { k.limits.wall_ms += 1; }},
      {"limits.cpu_ms", [](BuildKey& k) { k.limits.cpu_ms = 5; }},
      {"limits.memory_mb", [](BuildKey& k) { k.limits.memory_mb += 1; }},
      {"limits.disk_mb", [](BuildKey& k) { k.limits.disk_mb += 1; }},
      {"limits.pids", [](BuildKey& k) { k.limits.pids += 1; }},
      {"limits.output_bytes", [](BuildKey& k) { k.limits.output_bytes += 1; }},
      {"limits.cpus", [](BuildKey& k) { k.limits.cpus = 2; }},
      {"cwd", [](BuildKey& k) { k.cwd = "/workspace/src"; }},
  };
  std::map<std::string, std::string> seen = {{BuildCache::Digest(SampleKey()), "the sample"}};
  for (const auto& [what, change] : changes) {
    BuildKey k = SampleKey();
    change(k);
    std::string d = BuildCache::Digest(k);
    auto [it, fresh] = seen.emplace(d, what);
    EXPECT_TRUE(fresh) << what << " gives the digest of " << it->second;
  }
  // brood's version is part of the key (an upgrade rebuilds).
  EXPECT_NE(cache_format::KeyDigest(SampleKey(), "0.1.0"),
            cache_format::KeyDigest(SampleKey(), "0.1.1"));
  EXPECT_EQ(seen.count(cache_format::KeyDigest(SampleKey(), "0.0.0-other")), 0u);
}

TEST_F(BuildCacheTest, EvictsTheLeastRecentlyUsedAndLookupProtects) {
  std::string a = DigestOf("a"), b = DigestOf("b"), c = DigestOf("c"), d = DigestOf("d"),
              e = DigestOf("e");
  uint64_t size = Encode(a, Sized("a")).size();
  ASSERT_EQ(Encode(e, Sized("e")).size(), size);
  auto cache = OpenCache(3 * size);
  cache->Store(a, Sized("a"));
  cache->Store(b, Sized("b"));
  cache->Store(c, Sized("c"));
  EXPECT_EQ(cache->bytes(), 3 * size);
  ASSERT_TRUE(cache->Lookup(a));  // now b is the least recently used
  cache->Store(d, Sized("d"));
  EXPECT_EQ(Names(), (std::set<std::string>{a, c, d}));
  cache->Store(e, Sized("e"));
  EXPECT_EQ(Names(), (std::set<std::string>{a, d, e}));
  EXPECT_EQ(cache->bytes(), 3 * size);
  EXPECT_EQ(cache->stats().evicted, 2u);
  EXPECT_FALSE(cache->Lookup(b));
  ExpectSame(*cache->Lookup(a), Sized("a"));
}

TEST_F(BuildCacheTest, AnEntryLargerThanMaxIsNotStored) {
  std::string a = DigestOf("a"), big = DigestOf("b");
  uint64_t small = Encode(a, Sized("a", 10)).size();
  uint64_t size = Encode(big, Sized("b", 5000)).size();
  {
    auto cache = OpenCache(size - 1);
    cache->Store(a, Sized("a", 10));
    cache->Store(big, Sized("b", 5000));
    EXPECT_FALSE(cache->Lookup(big));
    EXPECT_TRUE(cache->Lookup(a)) << "a refused entry evicts nothing";
    EXPECT_EQ(cache->bytes(), small);
    EXPECT_EQ(cache->stats().not_stored, 1u);
    EXPECT_EQ(cache->stats().store_failures, 0u);
  }
  auto cache = OpenCache(size);  // exactly its size fits (the other one goes)
  cache->Store(big, Sized("b", 5000));
  EXPECT_TRUE(cache->Lookup(big));
  EXPECT_FALSE(cache->Lookup(a));
  EXPECT_EQ(cache->bytes(), size);
}

TEST_F(BuildCacheTest, EntriesAndTheirOrderPersistAcrossOpen) {
  std::string a = DigestOf("a"), b = DigestOf("b"), c = DigestOf("c"), d = DigestOf("d");
  uint64_t size = Encode(a, Sized("a")).size();
  {
    auto cache = OpenCache(3 * size);
    cache->Store(a, Sized("a"));
    cache->Store(b, Sized("b"));
    cache->Store(c, Sized("c"));
    ASSERT_TRUE(cache->Lookup(a));  // order: b c a
  }
  auto cache = OpenCache(3 * size);
  EXPECT_EQ(cache->stats().entries, 3u);
  EXPECT_EQ(cache->bytes(), 3 * size);
  ExpectSame(*cache->Lookup(c), Sized("c"));  // order: b a c
  cache->Store(d, Sized("d"));
  EXPECT_EQ(Names(), (std::set<std::string>{a, c, d}));
  cache.reset();
  // A smaller bound at the next Open evicts down to it, least recently used first.
  cache = OpenCache(size);
  EXPECT_EQ(Names(), std::set<std::string>{d});
  EXPECT_EQ(cache->bytes(), size);
}

TEST_F(BuildCacheTest, TwoCachesOverOneDirectoryShareEntriesAndOrder) {
  std::string a = DigestOf("a"), b = DigestOf("b"), c = DigestOf("c");
  uint64_t size = Encode(a, Sized("a")).size();
  auto one = OpenCache(2 * size);
  one->Store(a, Sized("a"));
  auto two = OpenCache(2 * size);  // indexes a
  one->Store(b, Sized("b"));       // new to two
  ExpectSame(*two->Lookup(b), Sized("b"));
  ASSERT_TRUE(one->Lookup(a));  // two still thinks a is older than b
  two->Store(c, Sized("c"));    // evicts b: two sees one's use of a on disk
  EXPECT_EQ(Names(), (std::set<std::string>{a, c}));
  // One's entry removed by the other is a plain miss for it.
  ASSERT_EQ(unlink((dir_ + "/" + a).c_str()), 0);
  EXPECT_FALSE(one->Lookup(a));
  EXPECT_EQ(one->stats().invalid_removed, 0u);
  EXPECT_FALSE(one->Lookup(b));
  EXPECT_EQ(one->bytes(), 0u) << "one forgot both";
}

// A file under a digest's name that is not exactly what brood wrote for that digest.
struct Corrupt {
  std::string name;
  std::function<std::string(const std::string& digest)> bytes;
  std::string problem;  // a part of cache_format::Problem's answer
};
void PrintTo(const Corrupt& c, std::ostream* os) { *os << c.name; }

std::string Body(const std::string& d) { return EncodeBody(d, Sample()); }
std::string WithFiles(const std::string& d, std::map<std::string, std::string> files) {
  CacheEntry e = Sample();
  e.files = std::move(files);
  return Encode(d, e);
}
std::string SetU64(std::string body, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) body[at + i] = static_cast<char>(v >> (8 * i));
  return body;
}
// The body of an entry whose files are {"x": "1", "y": "2"}: its file section is its tail.
std::string XyBody(const std::string& d) {
  CacheEntry e = Sample();
  e.files = {{"x", "1"}, {"y", "2"}};
  return EncodeBody(d, e);
}
constexpr size_t kXyFiles = 2 * (8 + 1 + 8 + 1);  // bytes of the file section after the count
constexpr size_t kStatusAt = 8 + 4 + 8 + 64;      // magic, version, the digest

const std::vector<Corrupt>& CorruptEntries() {
  static const std::vector<Corrupt> cases = {
      {"Empty", [](const std::string&) { return std::string(); }, "too short"},
      {"Truncated",
       [](const std::string& d) {
         std::string s = Encode(d, Sample());
         return s.substr(0, s.size() - 100);
       },
       "checksum"},
      {"ABitFlipped",
       [](const std::string& d) {
         std::string s = Encode(d, Sample());
         s[s.size() / 2] ^= 1;
         return s;
       },
       "checksum"},
      {"WrongMagic",
       [](const std::string& d) {
         std::string s = Body(d);
         s[0] = 'X';
         return Seal(s);
       },
       "magic"},
      {"WrongVersion",
       [](const std::string& d) {
         std::string s = Body(d);
         s[8] = 2;
         return Seal(s);
       },
       "format version 2"},
      {"AnotherKeysEntry", [](const std::string&) { return Encode(DigestOf("other"), Sample()); },
       "another key's"},
      {"StatusOutOfRange",
       [](const std::string& d) {
         std::string s = Body(d);
         s[kStatusAt] = 99;
         return Seal(s);
       },
       "status 99"},
      {"PathWithDotDot",
       [](const std::string& d) {
         return WithFiles(d, {{"ok", ""}, {"bin/../../etc/x", "x"}});
       },
       "climbs out"},
      {"AbsolutePath",
       [](const std::string& d) {
         return WithFiles(d, {{"/etc/passwd", "x"}});
       },
       "absolute"},
      {"NulInPath",
       [](const std::string& d) {
         return WithFiles(d, {{std::string("a\0b", 3), "x"}});
       },
       "NUL"},
      {"DotComponent",
       [](const std::string& d) {
         return WithFiles(d, {{"./a", "x"}});
       },
       "\".\" component"},
      {"FileAndDirectory",
       [](const std::string& d) {
         return WithFiles(d, {{"a", "x"}, {"a-b", ""}, {"a/b", "y"}});
       },
       "both a file and a directory"},
      {"ContentLengthPastTheEnd",
       [](const std::string& d) {
         std::string s = XyBody(d);
         return Seal(SetU64(s, s.size() - 9, uint64_t{1} << 40));  // y's content length
       },
       "content past the end"},
      {"PathLengthPastTheEnd",
       [](const std::string& d) {
         std::string s = XyBody(d);
         return Seal(SetU64(s, s.size() - kXyFiles, ~uint64_t{0}));  // x's path length
       },
       "path past the end"},
      {"FileCountPastTheEnd",
       [](const std::string& d) {
         std::string s = XyBody(d);
         return Seal(SetU64(s, s.size() - kXyFiles - 8, 1000));
       },
       "file count 1000 past the end"},
      {"PathsOutOfOrder",
       [](const std::string& d) {
         std::string s = XyBody(d);
         s[s.size() - kXyFiles + 8] = 'z';  // {"z", "y"}
         return Seal(s);
       },
       "out of order"},
      {"BytesAfterTheFiles", [](const std::string& d) { return Seal(Body(d) + "x"); },
       "1 bytes after the last file"},
      {"NegativeTime",
       [](const std::string& d) {
         CacheEntry e = Sample();
         e.build.wall_ms = -1;
         return Encode(d, e);
       },
       "negative"},
  };
  return cases;
}

class BuildCacheCorrupt : public BuildCacheTest, public ::testing::WithParamInterface<Corrupt> {};

TEST_P(BuildCacheCorrupt, IsAMissAndIsRemoved) {
  std::string d = BuildCache::Digest(SampleKey());
  std::string bytes = GetParam().bytes(d);
  EXPECT_NE(Problem(bytes, d, kSnapshotMax, nullptr).find(GetParam().problem), std::string::npos)
      << Problem(bytes, d, kSnapshotMax, nullptr);
  // Planted behind an open cache's back (a crash, another process), and before an Open.
  auto cache = OpenCache();
  Plant(d, bytes);
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_FALSE(Exists(d));
  EXPECT_EQ(cache->stats().invalid_removed, 1u);
  Plant(d, bytes);
  cache = OpenCache();
  EXPECT_EQ(cache->bytes(), bytes.size()) << "Open indexes by size; Lookup reads";
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_FALSE(Exists(d));
  EXPECT_EQ(cache->bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Entries, BuildCacheCorrupt, ::testing::ValuesIn(CorruptEntries()),
                         [](const auto& info) { return info.param.name; });

TEST_F(BuildCacheTest, TheValidSampleHasNoProblem) {
  std::string d = BuildCache::Digest(SampleKey());
  CacheEntry out;
  EXPECT_EQ(Problem(Encode(d, Sample()), d, kSnapshotMax, &out), "");
  ExpectSame(out, Sample());
}

TEST_F(BuildCacheTest, AnEntryOverTheCapIsRemovedUnread) {
  auto cache = OpenCache(1024);  // the cap: kSnapshotMax
  std::string d = DigestOf("huge");
  Plant(d, Encode(d, Sized("h", 10)));
  ASSERT_EQ(truncate((dir_ + "/" + d).c_str(), kSnapshotMax + 1), 0);  // sparse
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_FALSE(Exists(d));
  Plant(d, "x");
  ASSERT_EQ(truncate((dir_ + "/" + d).c_str(), kSnapshotMax + 1), 0);
  cache = OpenCache(1024);
  EXPECT_FALSE(Exists(d)) << "Open removes it";
  EXPECT_EQ(cache->stats().invalid_removed, 1u);
}

TEST_F(BuildCacheTest, ASymlinkUnderADigestNameIsNotFollowed) {
  std::string d = BuildCache::Digest(SampleKey());
  std::string target = root_ + "/elsewhere";
  {
    auto cache = OpenCache();  // makes the directory
  }
  int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::string bytes = Encode(d, Sample());  // a valid entry: only the link is wrong
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fd);

  auto cache = OpenCache();
  ASSERT_EQ(symlink(target.c_str(), (dir_ + "/" + d).c_str()), 0);
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_FALSE(Exists(d)) << "the link is removed";
  EXPECT_TRUE(fs::exists(target)) << "its target is not touched";
  EXPECT_EQ(cache->stats().invalid_removed, 1u);

  ASSERT_EQ(symlink(target.c_str(), (dir_ + "/" + d).c_str()), 0);
  cache = OpenCache();
  EXPECT_FALSE(Exists(d)) << "Open removes a link under a digest's name";
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_EQ(cache->bytes(), 0u);
  EXPECT_TRUE(fs::exists(target));
  // Neither is a FIFO followed into a hang.
  ASSERT_EQ(mkfifo((dir_ + "/" + d).c_str(), 0600), 0);
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_FALSE(Exists(d));
}

TEST_F(BuildCacheTest, OpenRefusesADirectoryOthersCouldWriteOrASymlink) {
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
  for (mode_t mode : {0777, 0770, 0702, 01777}) {
    ASSERT_EQ(chmod(dir_.c_str(), mode), 0);
    auto cache = BuildCache::Open(dir_, kBig);
    ASSERT_FALSE(cache.ok()) << std::oct << mode;
    EXPECT_NE(cache.status().message().find("writable by its group or others"), std::string::npos)
        << cache.status().message();
    EXPECT_NE(cache.status().message().find(dir_), std::string::npos);
  }
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  EXPECT_OK(BuildCache::Open(dir_, kBig));
  EXPECT_OK(BuildCache::Open(dir_ + "/", kBig));

  std::string link = root_ + "/link";
  ASSERT_EQ(symlink(dir_.c_str(), link.c_str()), 0);
  for (const std::string& path : {link, link + "/", link + "//"}) {
    auto cache = BuildCache::Open(path, kBig);
    ASSERT_FALSE(cache.ok()) << path;
    EXPECT_NE(cache.status().message().find("is a symlink"), std::string::npos)
        << cache.status().message();
  }

  std::string file = root_ + "/file";
  close(open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  auto not_dir = BuildCache::Open(file, kBig);
  ASSERT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.status().message().find("not a directory"), std::string::npos)
      << not_dir.status().message();

  auto no_parent = BuildCache::Open(root_ + "/missing/cache", kBig);
  ASSERT_FALSE(no_parent.ok());
  EXPECT_NE(no_parent.status().message().find("ENOENT"), std::string::npos)
      << no_parent.status().message();

  if (geteuid() == 0) {
    ASSERT_EQ(chown(dir_.c_str(), 65534, 65534), 0);
    auto theirs = BuildCache::Open(dir_, kBig);
    ASSERT_FALSE(theirs.ok());
    EXPECT_NE(theirs.status().message().find("is owned by uid 65534"), std::string::npos)
        << theirs.status().message();
  }
}

TEST_F(BuildCacheTest, OpenRemovesStaleTemporaryFilesOnly) {
  ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0);
  Plant(".tmp-1-stale", "half an entry");
  Plant(".tmp-2-fresh", "being written");
  Plant("README", "not the cache's");
  struct timespec old[2] = {{time(nullptr) - 7200, 0}, {time(nullptr) - 7200, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (dir_ + "/.tmp-1-stale").c_str(), old, 0), 0);
  auto cache = OpenCache();
  EXPECT_EQ(Names(), (std::set<std::string>{".tmp-2-fresh", "README"}));
  EXPECT_EQ(cache->bytes(), 0u) << "neither is an entry";
}

TEST_F(BuildCacheTest, StoreRefusesWhatItMustNotKeep) {
  auto cache = OpenCache();
  std::string d = DigestOf("x");
  CacheEntry e = Sample();
  e.build.status = TaskStatus::kSandboxError;  // the host failed, not the build
  cache->Store(d, e);
  e.build.status = TaskStatus::kInvalidJob;
  cache->Store(d, e);
  e = Sample();
  e.files["../escape"] = "x";
  cache->Store(d, e);
  e = Sample();
  e.build.status = static_cast<TaskStatus>(42);
  cache->Store(d, e);
  cache->Store("../" + d.substr(3), Sample());  // not a digest: never a path
  cache->Store("", Sample());
  EXPECT_EQ(cache->stats().not_stored, 6u);
  EXPECT_TRUE(Names().empty());
  EXPECT_FALSE(cache->Lookup("../etc/passwd"));
  EXPECT_FALSE(cache->Lookup(""));
  EXPECT_FALSE(cache->Lookup(std::string(64, 'A'))) << "uppercase is not Digest's";
}

TEST_F(BuildCacheTest, ACacheThatCannotWriteMisses) {
  auto cache = OpenCache();
  ASSERT_EQ(rmdir(dir_.c_str()), 0);  // no file can be made in a removed directory
  std::string d = DigestOf("x");
  cache->Store(d, Sample());
  EXPECT_FALSE(cache->Lookup(d));
  EXPECT_EQ(cache->stats().store_failures, 1u);
  EXPECT_EQ(cache->bytes(), 0u);
}

TEST_F(BuildCacheTest, ConcurrentStoresAndLookups) {
  constexpr int kThreads = 4, kKeys = 16, kRounds = 300;
  std::vector<std::string> digests;
  for (int i = 0; i < kKeys; ++i) digests.push_back(DigestOf("k" + std::to_string(i)));
  auto entry = [](int i) { return Sized("k" + std::to_string(i), 2000 + 10 * i); };
  uint64_t max = 0;
  for (int i = 0; i < 6; ++i) max += Encode(digests[i], entry(i)).size();
  auto cache = OpenCache(max);  // about 6 of 16: evictions all along

  std::atomic<int> wrong{0}, hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        int i = (r * 7 + t * 3) % kKeys;
        if (auto got = cache->Lookup(digests[i])) {
          ++hits;
          if (got->files != entry(i).files || got->build.error != entry(i).build.error) ++wrong;
        } else {
          cache->Store(digests[i], entry(i));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
  BuildCache::Stats s = cache->stats();
  EXPECT_EQ(s.hits + s.misses, uint64_t{kThreads * kRounds});
  EXPECT_EQ(s.hits, uint64_t(hits.load()));
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evicted, 0u);
  EXPECT_EQ(s.store_failures, 0u);
  EXPECT_EQ(s.invalid_removed, 0u);
  EXPECT_LE(cache->bytes(), max);

  // The index is the directory: the same names, the same total, every entry valid.
  uint64_t on_disk = 0;
  std::set<std::string> names = Names();
  EXPECT_EQ(names.size(), s.entries);
  for (const std::string& name : names) {
    int i = static_cast<int>(std::find(digests.begin(), digests.end(), name) - digests.begin());
    ASSERT_LT(i, kKeys) << "not an entry: " << name;
    on_disk += fs::file_size(dir_ + "/" + name);
    auto got = cache->Lookup(name);
    ASSERT_TRUE(got) << name;
    EXPECT_EQ(got->files, entry(i).files);
  }
  EXPECT_EQ(on_disk, cache->bytes());
}

}  // namespace
}  // namespace brood::eval
