; A fault in the new task while an exception is delivered through a task gate (SDM Vol. 3A, 7.3
; and Table 7-1): #DE goes through a task gate to task 2, whose EIP lies beyond its CS limit. The
; switch has committed when the #GP(0) is found, so the #GP belongs to task 2: it is delivered there
; (its CS, its EIP in the frame, on its stack) as a fault of its own, not combined with the #DE
; into a double fault. Task 2 then returns to task 1 with IRETD (NT set by the gate).
;
; QEMU 7.2 combines the two into a #DF (delivered in task 2 all the same). The line that differs
; because we follow the SDM:
; [differs] exc 0
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define SEL_T2    0x50
%define SEL_LIMCS 0x58                    ; code32, base 0, limit 0x1fffff
%define NEWGDT    0x280000
%define FAR_EIP   0x300000                ; beyond SEL_LIMCS's limit

main:
    call cpu_setup
    PRINT "task_gate_fault", 10
    mov esi, gdt
    mov edi, NEWGDT
    mov ecx, gdt_end - gdt
    rep movsb
    mov eax, tss2
    mov word [NEWGDT + SEL_T2], 0x67
    mov [NEWGDT + SEL_T2 + 2], ax
    shr eax, 16
    mov [NEWGDT + SEL_T2 + 4], al
    mov byte [NEWGDT + SEL_T2 + 5], 0x89
    mov byte [NEWGDT + SEL_T2 + 6], 0
    mov [NEWGDT + SEL_T2 + 7], ah
    mov dword [NEWGDT + SEL_LIMCS], 0x000001ff
    mov dword [NEWGDT + SEL_LIMCS + 4], 0x00c09a00
    lgdt [newgdt_desc]
    ; task 2 starts beyond its CS limit, on a stack of its own
    mov dword [tss2 + 0x20], FAR_EIP
    mov dword [tss2 + 0x24], 2
    mov dword [tss2 + 0x38], 0x7e000
    mov dword [tss2 + 0x4c], SEL_LIMCS
    mov dword [tss2 + 0x48], SEL_DATA32
    mov dword [tss2 + 0x50], SEL_DATA32
    mov dword [tss2 + 0x54], SEL_DATA32
    mov dword [tss2 + 0x58], SEL_DATA32
    mov dword [tss2 + 0x5c], SEL_DATA32
    ; #DE through a task gate to task 2
    mov dword [idt + 0 * 8], 0
    mov word [idt + 0 * 8 + 2], SEL_T2
    mov word [idt + 0 * 8 + 4], 0x8500
    EXPECT in_task2
    xor edx, edx
    xor ecx, ecx
    div ecx
    PRINT "no #DE", 10
    ret
in_task2:
    PRINT "in task 2", 10
    call show_tr
    mov ax, cs
    movzx eax, ax
    mov esi, m_cs
    call show
    mov eax, esp
    mov esi, m_esp
    call show
    mov dword [tss + 0x20], back_in_task1
    iretd
back_in_task1:
    PRINT "task 1 again", 10
    call show_tr
    clts
    ret

%include "show_tr.inc"

m_tr: db "tr: ", 0
m_cs: db "cs: ", 0
m_esp: db "esp: ", 0
newgdt_desc: dw 0x5f
    dd NEWGDT

section .bss
align 16
tss2: resb 0x68
