// The g++ workload: iostream, std::thread, std::filesystem, std::chrono and friends, each checked.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::cerr << "FAIL: " #cond " at line " << __LINE__ << std::endl; \
      std::exit(1);                                                     \
    }                                                                   \
  } while (0)

int main() {
  // chrono
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(5ms);
  auto dt = std::chrono::steady_clock::now() - t0;
  CHECK(dt >= 5ms);
  auto sys = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  CHECK(sys > 1600000000);
  auto hr = std::chrono::high_resolution_clock::now();
  (void)hr;
  std::cout << "chrono ok" << std::endl;

  // threads: std::thread, mutex, condition_variable, atomic, async, futures
  std::atomic<long> total{0};
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  std::vector<std::thread> pool;
  unsigned n = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n * 2; i++)
    pool.emplace_back([&, i] {
      {
        std::lock_guard lk(mu);
        ready++;
      }
      cv.notify_all();
      std::vector<int> v(100000);
      std::iota(v.begin(), v.end(), int(i));
      total += std::accumulate(v.begin(), v.end(), 0L);
    });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return ready == int(n * 2); });
  }
  for (auto& t : pool) t.join();
  long want = 0;
  for (unsigned i = 0; i < n * 2; i++) want += 100000L * i + 100000L * 99999 / 2;
  CHECK(total == want);
  auto fut = std::async(std::launch::async, [] { return std::string("async"); });
  CHECK(fut.get() == "async");
  std::promise<int> prom;
  std::thread([&] { prom.set_value(42); }).join();
  CHECK(prom.get_future().get() == 42);
  std::jthread jt([](std::stop_token st) {
    while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
  });
  jt.request_stop();
  jt.join();
  std::cout << "threads ok" << std::endl;

  // random
  std::random_device rd;
  std::mt19937_64 gen(rd());
  std::uniform_int_distribution<int> dist(1, 6);
  int s = 0;
  for (int i = 0; i < 1000; i++) s += dist(gen);
  CHECK(s > 1000 && s < 6000);
  std::cout << "random ok" << std::endl;

  // filesystem
  fs::path root = fs::current_path() / "tree";
  fs::create_directories(root / "a" / "b");
  fs::create_directories(fs::temp_directory_path() / "wl-gxx");
  for (int i = 0; i < 10; i++) {
    std::ofstream(root / "a" / ("f" + std::to_string(i) + ".txt")) << "file " << i << "\n";
  }
  std::ofstream(root / "a" / "b" / "deep.txt") << std::string(100000, 'x');
  CHECK(fs::file_size(root / "a" / "b" / "deep.txt") == 100000);
  fs::copy(root / "a", root / "copy", fs::copy_options::recursive);
  fs::rename(root / "copy" / "f0.txt", root / "copy" / "renamed.txt");
  fs::create_symlink("renamed.txt", root / "copy" / "link");
  CHECK(fs::is_symlink(root / "copy" / "link"));
  CHECK(fs::canonical(root / "copy" / "link").filename() == "renamed.txt");
  fs::permissions(root / "copy" / "renamed.txt", fs::perms::owner_read);
  fs::last_write_time(root / "copy" / "renamed.txt", fs::file_time_type::clock::now());
  int files = 0;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && !e.is_symlink()) files++;
  CHECK(files == 22);
  std::ifstream in(root / "copy" / "f5.txt");
  std::string line;
  std::getline(in, line);
  CHECK(line == "file 5");
  auto space = fs::space(root);
  CHECK(space.capacity > 0);
  CHECK(fs::remove_all(root / "copy") == 14);
  CHECK(fs::exists(fs::temp_directory_path() / "wl-gxx"));
  std::cout << "filesystem ok" << std::endl;

  // exceptions, iostreams, a child process
  try {
    throw std::runtime_error("boom");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()) == "boom");
  }
  std::ostringstream os;
  os << std::hex << 255;
  CHECK(os.str() == "ff");
  CHECK(std::system("exit 0") == 0);
  auto sp = std::make_shared<std::map<int, std::string>>();
  (*sp)[1] = "one";
  CHECK(sp->at(1) == "one");
  std::cout << "misc ok" << std::endl;
  return 0;
}
