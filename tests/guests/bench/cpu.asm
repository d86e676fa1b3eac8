; The CPU benchmark guest (bench/cpu_bench.ts): five CPU-bound phases, each ending with a line
; "phase N NAME checksum" on COM1, so every emulator can be checked to have computed the same thing.
; Deterministic: the instruction count is the same on every correct x86, which is what lets one
; count (our CPU's) stand for all the emulators. The phases run ROUNDS times over, so that guest
; work outweighs each emulator's startup and JIT warm-up: about 390 million instructions in all.
%include "multiboot.inc"

%define SIEVE      0x00200000          ; 1 MiB of flags
%define SIEVE_SIZE 0x00100000
%define COPY_SRC   0x00400000          ; two 1 MiB buffers for the string phase
%define COPY_DST   0x00500000
%define PAGE_DIR   0x00800000          ; page directory, then 4 page tables (16 MiB identity map)
%define ALU_ITERS  4000000
%define FIB_N      27
%define ROUNDS     3

main:
    PRINT "bench cpu: start", 10
    mov dword [round], 1
.round:
    call phases
    inc dword [round]
    cmp dword [round], ROUNDS
    jbe .round
    PRINT "bench cpu: done", 10
    ret

round: dd 0

; phase: starts a phase's line: "round R phase ".
%macro PHASE 1
    push eax
    PRINT "round "
    mov eax, [round]
    add al, '0'
    call putc
    PRINT " phase ", %1, " "
    pop eax
%endmacro

phases:

    ; 1. ALU: xorshift32 mixed with add, rotate, multiply and compare, kept in registers
    mov eax, 0x12345678
    xor ebx, ebx
    xor edx, edx
    mov ecx, ALU_ITERS
.alu:
    mov esi, eax
    shl esi, 13
    xor eax, esi
    mov esi, eax
    shr esi, 17
    xor eax, esi
    mov esi, eax
    shl esi, 5
    xor eax, esi
    add ebx, eax
    rol ebx, 3
    imul edx, ebx, 31
    sub ebx, edx
    cmp eax, ebx
    adc edx, 0
    dec ecx
    jnz .alu
    add eax, ebx
    add eax, edx
    PHASE "1 alu"
    call hex32
    call newline

    ; 2. sieve of Eratosthenes over 1 MiB, twice
    call sieve
    call sieve
    PHASE "2 sieve"
    call hex32
    call newline

    ; 3. string copies: REP MOVSD/MOVSB/STOSD/CMPSD over 1 MiB buffers
    xor edx, edx
    mov ebx, 8
.strings:
    mov edi, COPY_SRC
    mov ecx, SIEVE_SIZE / 4
    mov eax, ebx
    imul eax, eax, 0x01010101
    rep stosd
    mov byte [COPY_SRC + SIEVE_SIZE - 1], bl
    mov esi, COPY_SRC
    mov edi, COPY_DST
    mov ecx, SIEVE_SIZE / 4
    rep movsd
    mov esi, COPY_SRC + 1
    mov edi, COPY_DST + 3
    mov ecx, SIEVE_SIZE - 4
    rep movsb
    mov esi, COPY_SRC
    mov edi, COPY_DST
    mov ecx, SIEVE_SIZE / 4
    repe cmpsd
    add edx, ecx
    add edx, [COPY_DST + SIEVE_SIZE - 4]
    dec ebx
    jnz .strings
    mov eax, edx
    PHASE "3 strings"
    call hex32
    call newline

    ; 4. recursive calls: fib(FIB_N) the naive way
    mov eax, FIB_N
    call fib
    PHASE "4 calls"
    call hex32
    call newline

    ; 5. the sieve again with paging on: 4 KiB pages identity-mapping the first 16 MiB
    mov edi, PAGE_DIR
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov edi, PAGE_DIR + 4096           ; the page tables
    mov eax, 0x003                     ; present, writable
    mov ecx, 4 * 1024
.pte:
    stosd
    add eax, 4096
    loop .pte
    mov edi, PAGE_DIR
    mov eax, PAGE_DIR + 4096 + 0x003
    mov ecx, 4
.pde:
    stosd
    add eax, 4096
    loop .pde
    mov eax, PAGE_DIR
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    call sieve
    call sieve
    mov ebx, eax
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov eax, ebx
    PHASE "5 paged-sieve"
    call hex32
    call newline
    ret

; sieve: EAX = the number of primes below SIEVE_SIZE. Clobbers EBX, ECX, EDX, EDI.
sieve:
    mov edi, SIEVE
    mov ecx, SIEVE_SIZE / 4
    mov eax, 0x01010101
    rep stosd
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
    xor eax, eax
    mov ebx, 2
.tally:
    movzx edx, byte [SIEVE + ebx]
    add eax, edx
    inc ebx
    cmp ebx, SIEVE_SIZE
    jb .tally
    ret

; fib: EAX = fib(EAX), by two recursive calls per level.
fib:
    cmp eax, 2
    jb .leaf
    push eax
    dec eax
    call fib
    xchg eax, [esp]
    sub eax, 2
    call fib
    pop edx
    add eax, edx
.leaf:
    ret
