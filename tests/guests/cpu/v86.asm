; Virtual-8086 mode: IRET into V86 with IOPL 3, real-mode addressing there, INT n through the IDT
; with the V86 stack frame (segment registers saved and zeroed), IRET back into V86, and with
; IOPL 0 the #GP(0) that CLI and INT n raise for the monitor.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define V86_BASE 0x7000

main:
    call cpu_setup
    PRINT "v86", 10
    mov esi, section.v86blob.start
    mov edi, V86_BASE
    mov ecx, v86_end - v86_start
    rep movsb
    mov al, 0x81
    mov ebx, int81
    mov dx, 0xee00
    call set_gate
    mov al, 0x82
    mov ebx, int82
    mov dx, 0xee00
    call set_gate
    mov al, 13
    mov ebx, gp_handler
    mov dx, 0x8e00
    call set_gate
    mov [saved_esp], esp
    ; phase 1: IOPL 3
    push dword 0                          ; GS
    push dword 0                          ; FS
    push dword 0x0500                     ; DS
    push dword 0                          ; ES
    push dword 0                          ; SS
    push dword 0x6000                     ; ESP
    push dword 0x23002                    ; EFLAGS: VM, IOPL 3
    push dword 0                          ; CS
    push dword phase1 - v86_start + V86_BASE
    iretd

; int 0x81 from V86: print the frame, add 1 to the caller's AX, return to V86
int81:
    push ebp
    mov ebp, esp
    push eax
    ; Leaving V86 nulled DS: keep it to print, and load ours before touching memory (#GP(0) else).
    mov ax, ds
    push eax
    mov ax, SEL_DATA32
    mov ds, ax
    PRINT "int81 frame eip/cs/eflags/esp/ss/es/ds: "
    mov eax, [ebp + 4]
    call hex32
    mov eax, [ebp + 8]
    call sp_hex
    mov eax, [ebp + 12]
    call sp_hex
    mov eax, [ebp + 16]
    call sp_hex
    mov eax, [ebp + 20]
    call sp_hex
    mov eax, [ebp + 24]
    call sp_hex
    mov eax, [ebp + 28]
    call sp_hex
    call newline
    pop eax
    movzx eax, ax
    mov esi, m_ds
    call show
    pop eax
    inc eax
    pop ebp
    iretd

; int 0x82: phase 1 done; enter phase 2 with IOPL 0
int82:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov esp, [saved_esp]
    PRINT "phase 2", 10
    push dword 0
    push dword 0
    push dword 0x0500
    push dword 0
    push dword 0
    push dword 0x6000
    push dword 0x20002                    ; EFLAGS: VM, IOPL 0
    push dword 0
    push dword phase2 - v86_start + V86_BASE
    iretd

; #GP from V86 (IOPL 0): print error code and CS:IP; the second one ends the test
gp_handler:
    mov ax, SEL_DATA32
    mov ds, ax
    PRINT "#GP from v86 err/eip: "
    mov eax, [esp]
    call hex32
    mov eax, [esp + 4]
    call sp_hex
    call newline
    inc dword [gp_count]
    cmp dword [gp_count], 2
    je .done
    add esp, 4
    add dword [esp], 1                    ; skip the one-byte CLI
    iretd
.done:
    mov esp, [saved_esp]
    PRINT "done", 10
    ret

sp_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    call hex32
    ret

m_ds: db "ds in handler: ", 0
saved_esp: dd 0
gp_count: dd 0

section v86blob vstart=V86_BASE align=16
v86_start:
[bits 16]
phase1:
    mov ax, 0x1234
    mov word [0x10], 0xbeef               ; DS = 0x500: linear 0x5010
    cli
    sti
    pushf
    pop bx
    int 0x81
    mov cx, [0x10]
    int 0x82
phase2:
    cli                                   ; #GP(0), the monitor skips it
    int 0x81                              ; #GP(0x81 * 8 + 2): ends the test
    hlt
v86_end:
