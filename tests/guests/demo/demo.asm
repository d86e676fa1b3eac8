; The bundled demo guest (`deno task demo`): a multiboot kernel that greets over
; COM1, proves the CPU computes (a sieve of Eratosthenes), and exits cleanly.
%include "multiboot.inc"

%define SIEVE      0x200000
%define SIEVE_SIZE 10000

main:
    PRINT "Hello from qemu-kvm-ts: a multiboot guest on the emulated PC.", 10
    ; sieve of Eratosthenes over [0, SIEVE_SIZE)
    mov edi, SIEVE
    mov ecx, SIEVE_SIZE
    mov al, 1
    rep stosb
    mov ebx, 2
.outer:
    mov eax, ebx
    mul ebx
    cmp eax, SIEVE_SIZE
    jae .count
    cmp byte [SIEVE + ebx], 0
    je .skip
.mark:
    mov byte [SIEVE + eax], 0
    add eax, ebx
    cmp eax, SIEVE_SIZE
    jb .mark
.skip:
    inc ebx
    jmp .outer
.count:
    xor edx, edx
    mov ebx, 2
.tally:
    movzx eax, byte [SIEVE + ebx]
    add edx, eax
    inc ebx
    cmp ebx, SIEVE_SIZE
    jb .tally
    PRINT "primes below 10000: 0x"
    mov eax, edx
    call hex32
    PRINT " (expect 0x000004cd)", 10
    PRINT "Goodbye.", 10
    ret
