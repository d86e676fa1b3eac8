; Mode switches: 32-bit protected mode -> 16-bit protected mode -> real mode (IVT interrupts,
; #DE through the IVT, segment arithmetic, 16-bit addressing forms, 32-bit prefixes, unreal-mode
; FS above 1 MiB) -> back to 32-bit protected mode, with checkpoints printed from each mode.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"
%include "real_mode.inc"

%define REAL_BASE 0x7000

main:
    call cpu_setup
    PRINT "modes: 32-bit protected", 10
    ; into 16-bit protected mode, with the real-mode blob copied below 1 MiB
    TO_PM16

    BACK32
    PRINT "back in 32-bit protected mode", 10
    mov eax, [result]
    mov esi, msg_result
    call show
    mov eax, cr0
    mov esi, msg_cr0
    call show
    ret

msg_result: db "value left by real mode: ", 0
msg_cr0: db "cr0: ", 0
saved_esp: dd 0
saved_idt: dw 0
    dd 0
result: dd 0
unreal_probe: dd 0xfeedf00d

section realblob vstart=REAL_BASE align=16
real_start:
[bits 16]
    PM16_TO_REAL
    mov si, m_real
    call rputs
    ; segment arithmetic: 0x1234:0x0010 is linear 0x12350
    mov ax, 0x1234
    mov es, ax
    mov word [es:0x10], 0xbeef
    mov ax, 0x1235
    mov ds, ax
    mov ax, [0]
    xor bx, bx
    mov ds, bx
    call rhex16
    call rnl
    ; 16-bit addressing: [bx+si+disp8], [bp+di] defaults to SS
    mov bx, 0x100
    mov si, 0x20
    mov word [bx+si+4], 0x1111
    mov ax, [0x124]
    call rhex16
    mov bp, 0x200
    mov di, 0x10
    mov word [bp+di], 0x2222
    mov ax, [ss:0x210]
    call rhex16
    call rnl
    ; operand-size prefix in real mode
    mov eax, 0x12345678
    ror eax, 8
    push eax
    shr eax, 16
    call rhex16
    pop eax
    call rhex16
    call rnl
    ; IVT interrupt 0x80 with a handler that adds to AX
    mov word [0x80 * 4], int80
    mov word [0x80 * 4 + 2], 0
    mov ax, 0x40
    int 0x80
    call rhex16
    call rnl
    ; #DE through IVT vector 0: the handler skips the 2-byte DIV
    mov word [0], de_handler
    mov word [2], 0
    xor cl, cl
    mov ax, 7
    div cl
    mov si, m_after_de
    call rputs
    ; unreal mode: FS still has a 4 GiB limit; read the probe above 1 MiB
    xor ax, ax
    mov eax, [fs:dword unreal_probe]
    mov [fs:dword result], eax
    shr eax, 16
    call rhex16
    call rnl
    ; back to protected mode
    REAL_TO_PM32

int80:
    add ax, 0x23
    iret

de_handler:
    push bp
    mov bp, sp
    add word [bp + 2], 2
    mov si, m_de
    call rputs
    pop bp
    iret

%define RHEX16_SPACE
%include "real_serial.inc"

real_idt: dw 0x3ff
    dd 0
m_real: db "real mode", 10, 0
m_de: db "#DE in real mode", 10, 0
m_after_de: db "resumed after DIV", 10, 0
real_end:
