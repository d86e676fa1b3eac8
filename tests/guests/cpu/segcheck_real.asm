; Segment limit checks in real mode (SDM Vol. 3A, 20.1.1 and each instruction's "Real-Address Mode
; Exceptions"): an operand reaching past offset 0xFFFF raises #GP (through SS: #SS), also with a
; 32-bit address size; FS keeps a 4 GiB limit from protected mode (unreal mode) and does not fault.
; The IVT handlers print the exception and the faulting IP, then resume after the case.
;
; QEMU 7.2's TCG checks no data-access limits in real mode. The lines that differ because we
; follow the SDM:
; [differs] rm rd16 ffff
; [differs] rm rd32 fffd
; [differs] rm stosw ffff
; [differs] rm bp ffff
; [differs] rm a32 10000
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"
%include "real_mode.inc"

%define REAL_BASE 0x7000

main:
    call cpu_setup
    PRINT "segcheck_real", 10
    TO_PM16

    BACK32
    PRINT "back in protected mode", 10
    ret

saved_esp: dd 0
saved_idt: dw 0
    dd 0

section realblob vstart=REAL_BASE align=16
real_start:
[bits 16]
; RCASE "name", insn: prints the name, runs insn, then "ok" unless it faults (the handler resumes
; at the case's end)
%macro RCASE 2+
    mov si, %%name
    call rputs
    mov word [rresume], %%after
    %2
    mov si, m_ok
    call rputs
%%after:
    jmp %%next
%%name: db %1, " ", 0
%%next:
%endmacro

    PM16_TO_REAL
    mov word [13 * 4], gp_handler
    mov word [13 * 4 + 2], 0
    mov word [12 * 4], ss_handler
    mov word [12 * 4 + 2], 0
    RCASE "rm rd8 ffff", mov al, [0xffff]
    RCASE "rm rd16 fffe", mov ax, [0xfffe]
    RCASE "rm rd16 ffff", mov ax, [0xffff]
    RCASE "rm rd32 fffc", mov eax, [0xfffc]
    RCASE "rm rd32 fffd", mov eax, [0xfffd]
    mov di, 0xffff
    RCASE "rm stosw ffff", stosw
    mov bp, 0xffff
    RCASE "rm bp ffff", mov ax, [bp]
    RCASE "rm a32 10000", mov al, [dword 0x10000]
    RCASE "rm unreal fs", mov al, [fs:dword 0x10000]
    REAL_TO_PM32

; #GP and #SS through the IVT: no error code; print the IP and resume at [rresume]
gp_handler:
    mov si, m_gp
    jmp fault_common
ss_handler:
    mov si, m_ss
fault_common:
    call rputs
    push bp
    mov bp, sp
    mov ax, [bp + 2]
    call rhex16
    call rnl
    mov ax, [rresume]
    mov [bp + 2], ax
    pop bp
    iret

%include "real_serial.inc"

real_idt: dw 0x3ff
    dd 0
rresume: dw 0
m_ok: db "ok", 10, 0
m_gp: db "#GP ip ", 0
m_ss: db "#SS ip ", 0
real_end:
