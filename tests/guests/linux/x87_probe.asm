; Finding 1 of the Linux boot: the kernel's decompressor (arch/x86/boot/cpuflags.c has_fpu) clears
; CR0.EM/TS, runs FNINIT and reads the status and control words back; it must see an FPU that
; answers (FSW 0, FCW 0x037f). Then a little arithmetic, as the kernel's x87 code expects. Under
; `qemu-system -kernel` the vCPU must have its x87 attached: without one, FNINIT raises #NM (v=07)
; and, with no IDT, the guest triple-faults instead of printing.
%include "multiboot.inc"

main:
    mov eax, cr0
    and eax, ~0x0c                     ; EM and TS off, as has_fpu() does
    mov cr0, eax
    mov word [fsw], 0xffff
    mov word [fcw], 0xffff
    fninit
    fnstsw [fsw]
    fnstcw [fcw]
    PRINT "fsw 0x"
    movzx eax, word [fsw]
    call hex32
    PRINT " fcw 0x"
    movzx eax, word [fcw]
    call hex32
    call newline
    ; 3 * 7 + 1 through the FPU stack, stored as an integer
    fild dword [three]
    fimul dword [seven]
    fld1
    faddp st1, st0
    fistp dword [result]
    PRINT "3*7+1 = 0x"
    mov eax, [result]
    call hex32
    call newline
    ret

fsw: dw 0
fcw: dw 0
three: dd 3
seven: dd 7
result: dd 0
