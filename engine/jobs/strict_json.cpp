#include "jobs/strict_json.hpp"

#include <cmath>
#include <utility>

namespace brood::jobs {
namespace {

constexpr size_t kMaxQuoted = 64;
constexpr size_t kMaxSyntaxError = 160;

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

// nlohmann's message without its exception tag, and without the token it quotes, which can be
// most of a 64 MiB line or hold bytes that are not UTF-8: a result record carries it.
std::string ShortSyntaxError(std::string_view m) {
  if (auto p = m.find("] "); p != std::string_view::npos) m.remove_prefix(p + 2);
  if (m.starts_with("parse error ")) m.remove_prefix(12);
  if (m.starts_with("at line 1, ")) m.remove_prefix(11);
  std::string out = "at ";
  for (char c : m.substr(0, kMaxSyntaxError)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (m.size() > kMaxSyntaxError) out += "...";
  return out;
}

// Builds the document from SAX events as nlohmann's own DOM parser does, plus what that parser
// cannot do: notice a key given twice in one object, and skip values (the second value of a
// duplicate key, and the contents of containers below kMaxJsonDepth).
class Builder {
 public:
  explicit Builder(JsonDoc& doc) : doc_(doc) {}

  bool null() { return Put(Json(nullptr)); }
  bool boolean(bool v) { return Put(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return Put(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return Put(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return Put(Json(v)); }
  bool string(Json::string_t& v) { return Put(Json(std::move(v))); }
  bool binary(Json::binary_t&) { return Put(Json()); }  // only binary formats emit it
  bool start_object(size_t) { return Open(Json::value_t::object); }
  bool start_array(size_t) { return Open(Json::value_t::array); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(Json::string_t& k) {
    if (skip_ > 0) return true;
    auto& object = stack_.back()->get_ref<Json::object_t&>();
    // try_emplace leaves `k` alone when the key is already there.
    auto [it, inserted] = object.try_emplace(std::move(k));
    if (inserted) {
      slot_ = &it->second;
    } else {
      NoteDuplicate(it->first);
      skip_next_ = true;
    }
    return true;
  }

  bool parse_error(size_t, const std::string&, const Json::exception& e) {
    doc_.syntax_error = ShortSyntaxError(e.what());
    return false;
  }

 private:
  bool Put(Json&& v) {
    if (skip_ > 0) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    Place(std::move(v));
    return true;
  }

  bool Open(Json::value_t type) {
    if (skip_ > 0 || skip_next_) {
      skip_next_ = false;
      ++skip_;
      return true;
    }
    Json* j = Place(Json(type));
    if (stack_.size() >= kMaxJsonDepth) {
      skip_ = 1;  // keep the container, empty
    } else {
      stack_.push_back(j);
    }
    return true;
  }

  bool Close() {
    if (skip_ > 0) {
      --skip_;
    } else {
      stack_.pop_back();
    }
    return true;
  }

  Json* Place(Json&& v) {
    if (stack_.empty()) {
      doc_.value = std::move(v);
      return &doc_.value;
    }
    Json& top = *stack_.back();
    if (top.is_array()) {
      auto& array = top.get_ref<Json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }

  // Names where the duplicate is; worked out only when one is found, from the open containers.
  void NoteDuplicate(const std::string& k) {
    if (stack_.size() == 1) doc_.duplicate_fields.push_back(k);
    if (!doc_.duplicate.empty()) return;
    if (stack_.size() == 1) {
      doc_.duplicate = "duplicate field " + Quote(k);
      return;
    }
    std::string path;
    for (size_t i = 1; i < stack_.size(); ++i) {
      const Json& parent = *stack_[i - 1];
      if (parent.is_array()) {
        path +=
            "[" + std::to_string(stack_[i] - parent.get_ref<const Json::array_t&>().data()) + "]";
        continue;
      }
      for (const auto& [name, value] : parent.get_ref<const Json::object_t&>()) {
        if (&value != stack_[i]) continue;
        if (i == 1 || IsIdentifier(name)) {
          path += (i == 1 ? "" : ".") + name;
        } else {
          path += "[" + Quote(name) + "]";
        }
        break;
      }
    }
    doc_.duplicate = path + ": duplicate key " + Quote(k);
  }

  JsonDoc& doc_;
  std::vector<Json*> stack_;  // open containers, outermost first
  Json* slot_ = nullptr;      // the value of the key just read, in the innermost object
  size_t skip_ = 0;           // > 0: inside a skipped container, this many levels deep
  bool skip_next_ = false;    // the next value is a duplicate key's: drop it
};

}  // namespace

JsonDoc ParseStrictJson(std::string_view text) {
  JsonDoc doc;
  Builder builder(doc);
  if (!Json::sax_parse(text.begin(), text.end(), &builder) && doc.syntax_error.empty()) {
    doc.syntax_error = "at end: incomplete document";  // not reached: the builder never stops
  }
  return doc;
}

std::string Quote(std::string_view s) {
  bool cut = s.size() > kMaxQuoted;
  if (cut) {
    size_t n = kMaxQuoted;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
    s = s.substr(0, n);
  }
  // JSON quoting, so a quote or a control character in the name reads unambiguously.
  std::string out = Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (cut) out.insert(out.size() - 1, "...");
  return out;
}

std::string Describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      return v.empty() ? "{}" : "an object";
    case Json::value_t::array:
      return v.empty() ? "[]" : "an array";
    case Json::value_t::string:
      return Quote(v.get_ref<const std::string&>());
    case Json::value_t::number_float:
      return std::isfinite(v.get<double>()) ? v.dump() : "a number out of range";
    default:
      return v.dump();  // null, booleans, integers
  }
}

}  // namespace brood::jobs
