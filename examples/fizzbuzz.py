# A small program of the kind brood runs in bulk: it reads its input from stdin.
import sys

n = int(sys.stdin.readline() or 15)
for i in range(1, n + 1):
    print("FizzBuzz" if i % 15 == 0 else "Fizz" if i % 3 == 0 else "Buzz" if i % 5 == 0 else i)
