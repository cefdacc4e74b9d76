// The one main() of brood_bench: every bench/*.cpp is linked into it and only registers
// benchmarks (BENCHMARK(...)); none defines its own main.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
