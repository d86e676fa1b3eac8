; The trivial guest bench/cpu_bench.ts subtracts: boot, one line on COM1, exit. What each emulator
; takes for it is its startup and teardown time, not guest work.
%include "multiboot.inc"

main:
    PRINT "bench cpu: done", 10
    ret
