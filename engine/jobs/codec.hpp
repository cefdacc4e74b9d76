// Byte-level helpers of the record formats: base64 and UTF-8 validation.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace brood::jobs {

std::string Base64Encode(std::string_view bytes);
// nullopt when `text` is not valid (standard alphabet, padding optional, no whitespace).
std::optional<std::string> Base64Decode(std::string_view text);
// Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s);

}  // namespace brood::jobs
