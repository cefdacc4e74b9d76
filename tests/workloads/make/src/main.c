#include <stdio.h>

#include "util.h"
int main(void) {
  printf("triangle(100) = %ld\n", triangle(100));
  return triangle(100) == 5050 ? 0 : 1;
}
