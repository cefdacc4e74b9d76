#include "sys/mountinfo.hpp"

#include <charconv>

namespace brood::sys {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// "\ooo" to its byte. Anything else, a lone backslash included, is kept as it is.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) &&
        IsOctal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool ParseInt(std::string_view s, int* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// The fields of one line: the kernel separates them by exactly one space.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ' ') {
      out.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool ParseLine(std::string_view line, MountInfo* m) {
  // id parent major:minor root mount-point options [optional fields...] - type source super
  std::vector<std::string_view> f = Fields(line);
  size_t dash = 6;
  while (dash < f.size() && f[dash] != "-") ++dash;
  if (dash >= f.size() || f.size() - dash < 4) return false;
  if (!ParseInt(f[0], &m->id) || !ParseInt(f[1], &m->parent_id)) return false;
  m->root = Unescape(f[3]);
  m->mount_point = Unescape(f[4]);
  m->options = f[5];
  m->optional_fields.assign(f.begin() + 6, f.begin() + dash);
  m->fs_type = Unescape(f[dash + 1]);
  m->source = Unescape(f[dash + 2]);
  m->super_options = f[dash + 3];
  return true;
}

}  // namespace

bool MountInfo::HasSuperOption(std::string_view option) const {
  std::string_view rest = super_options;
  for (;;) {
    size_t comma = rest.find(',');
    if (rest.substr(0, comma) == option) return true;
    if (comma == std::string_view::npos) return false;
    rest.remove_prefix(comma + 1);
  }
}

std::vector<MountInfo> ParseMountInfo(std::string_view text) {
  std::vector<MountInfo> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    MountInfo m;
    if (ParseLine(line, &m)) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace brood::sys
