// `brood doctor`: runs every probe (engine/doctor/*.cpp) and prints one aligned line per check.
#include "brood/doctor.hpp"

#include <iomanip>

#include "doctor/check.hpp"

namespace brood {
namespace {

const char* LevelName(doctor::Level level) {
  switch (level) {
    case doctor::Level::kOk:
      return "ok";
    case doctor::Level::kWarn:
      return "warn";
    case doctor::Level::kMissing:
      break;
  }
  return "missing";
}

constexpr int kStatusWidth = 9;  // "missing" and two spaces

void Print(const doctor::Check& check, std::ostream& out) {
  out << std::left << std::setw(kStatusWidth) << LevelName(check.level) << check.what;
  if (!check.detail.empty()) out << ": " << check.detail;
  if (!check.fix.empty()) {
    out << " — fix: ";
    // Multi-line fixes (one command per line) continue under the check's name.
    for (char c : check.fix) {
      out << c;
      if (c == '\n') out << std::string(kStatusWidth + 2, ' ');
    }
  }
  out << '\n';
}

}  // namespace

int RunDoctor(const DoctorOptions& options, std::ostream& out) {
  const doctor::Host host = doctor::ReadHost();
  doctor::Checks checks;
  for (doctor::Checks part : {
           doctor::ProbeNamespaces(host),
           doctor::ProbeCgroups(host, options.cgroup_root),
           doctor::ProbeSeccomp(),
           doctor::ProbeIoUring(host),
           doctor::ProbeLandlock(),
           doctor::ProbeProcesses(),
           doctor::ProbeWorkspace(host, options.disk_dir),
       }) {
    for (doctor::Check& check : part) checks.push_back(std::move(check));
  }

  int missing = 0, warnings = 0;
  for (const doctor::Check& check : checks) {
    Print(check, out);
    missing += check.level == doctor::Level::kMissing;
    warnings += check.level == doctor::Level::kWarn;
  }
  out << '\n';
  if (missing == 0) {
    out << "brood can sandbox here as " << host.user << " (uid " << host.uid << ")";
    if (warnings > 0) out << "; " << warnings << " optional feature(s) missing";
    out << '\n';
    return 0;
  }
  out << "brood cannot sandbox here as " << host.user << " (uid " << host.uid << "): " << missing
      << " check(s) missing; see the fixes above\n";
  return 1;
}

}  // namespace brood
