#include "util.h"
long triangle(long n) { return n * (n + 1) / 2; }
