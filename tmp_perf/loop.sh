#!/bin/bash
# run cache test N times, alongside a loaded neighbour
cd /work/main
for i in $(seq 1 $1); do
  out=$(node --import tsx test/cache.test.ts 2>&1)
  if ! echo "$out" | grep -q "Passed:    4"; then echo "RUN $i FAILED"; echo "$out" | tail -60; else echo "run $i ok"; fi
done
