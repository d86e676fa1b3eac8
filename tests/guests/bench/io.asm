; The I/O benchmark guest (bench/kvm_bench.ts): 200,000 writes to the POST port (0x80), each one a
; VM exit to user space under -accel kvm, in a loop of a few instructions, then one line on COM1.
; The run's time less the empty guest's, over the count, is the cost of an I/O exit round trip.
%include "multiboot.inc"

%define WRITES 200000

main:
    mov ecx, WRITES
.loop:
    mov al, cl
    out 0x80, al
    dec ecx
    jnz .loop
    PRINT "bench io: done", 10
    ret
