// `brood languages` on the command line (docs/languages.md): the presets, each probed in a
// sandbox of the root brood would run it in.
#pragma once

#include <ostream>

#include "brood/engine.hpp"

// Prints one preset per entry to `out`: as text, or with `json` one JSON object per line
// ({"name","source","build","run","available","version","reason"}). 0 when brood could sandbox
// (missing toolchains included), 1 when it could not (the reason on stderr).
int RunLanguages(brood::EngineOptions opts, bool json, std::ostream& out);
