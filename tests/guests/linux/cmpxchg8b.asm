; Finding 2 of the Linux boot: CMPXCHG8B (0F C7 /1). CPUID.1:EDX.CX8 is set, so the i686 kernel
; uses it for every 64-bit atomic (atomic64_*, the clock code) early in start_kernel. The opcode
; table names a `cmpxchg8b` handler that lib/cpu/exec/handlers.ts does not have: decoding it throws
; a host Error and qemu-system dies with a stack trace. Here: the equal case (stores ECX:EBX, ZF=1),
; the unequal case (loads the operand into EDX:EAX, ZF=0) and the register form (#UD).
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

main:
    call cpu_setup
    ; equal: memory = EDX:EAX, so ECX:EBX is stored and ZF=1
    mov dword [q], 0x11112222
    mov dword [q + 4], 0x33334444
    mov eax, 0x11112222
    mov edx, 0x33334444
    mov ebx, 0xaaaabbbb
    mov ecx, 0xccccdddd
    lock cmpxchg8b [q]
    call report
    ; unequal: EDX:EAX gets the memory, which is left alone, and ZF=0
    mov eax, 0
    mov edx, 0
    mov ebx, 0x55556666
    mov ecx, 0x77778888
    cmpxchg8b [q]
    call report
    ; the register form is #UD
    EXPECT .ud
    db 0x0f, 0xc7, 0xc8
.ud:
    ret

; report: ZF, EDX:EAX and the quadword
report:
    pushfd
    pop esi
    shr esi, 6
    and esi, 1
    push eax
    PRINT "zf "
    mov eax, esi
    call hex8
    PRINT " edx:eax "
    mov eax, edx
    call hex32
    pop eax
    call hex32
    PRINT " mem "
    mov eax, [q + 4]
    call hex32
    mov eax, [q]
    call hex32
    call newline
    ret

align 8
q: dq 0
