; Hardware task switches with 32-bit TSSs: CALL to a TSS (back link, NT, busy bits) and IRET
; back, JMP to a task and JMP back, and INT through a task gate, printing what each task sees.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define SEL_T2 0x50
%define SEL_T3 0x58
%define NEWGDT 0x280000

main:
    call cpu_setup
    PRINT "tasks", 10
    ; a larger GDT: ours, then TSS descriptors for tasks 2 and 3
    mov esi, gdt
    mov edi, NEWGDT
    mov ecx, gdt_end - gdt
    rep movsb
    mov eax, tss2
    mov ebx, SEL_T2
    call tss_desc
    mov eax, tss3
    mov ebx, SEL_T3
    call tss_desc
    lgdt [newgdt_desc]
    ; task 2 and 3 start states
    mov dword [tss2 + 0x20], task2
    mov dword [tss2 + 0x38], 0x7e000
    mov dword [tss3 + 0x20], task3
    mov dword [tss3 + 0x38], 0x7d000
    mov edi, tss2
    call tss_segments
    mov edi, tss3
    call tss_segments
    ; task gate for int 0x50
    mov al, 0x50
    xor ebx, ebx
    mov dx, 0xe500
    call set_gate
    mov word [idt + 0x50 * 8 + 2], SEL_T3
    ; 1: CALL to task 2, which IRETs back
    mov ebx, 0x1111
    call SEL_T2:0
    mov eax, ebx
    mov esi, m_back
    call show
    call show_tr
    mov eax, [NEWGDT + SEL_T2 + 4]
    mov esi, m_t2desc
    call show
    ; 2: JMP to task 2 (it resumes after its IRET) and it JMPs back
    jmp SEL_T2:0
task1_resume:
    PRINT "task 1 again", 10
    call show_tr
    ; 3: INT 0x50 through the task gate
    int 0x50
    PRINT "after int 0x50", 10
    mov eax, cr0
    and eax, 8
    mov esi, m_ts
    call show
    clts
    ret

task2:
    PRINT "task 2 (called)", 10
    call show_tr
    pushfd
    pop eax
    and eax, 0x4000
    mov esi, m_nt
    call show
    movzx eax, word [tss2]
    mov esi, m_link
    call show
    mov eax, ebx
    mov esi, m_ebx
    call show
    mov ebx, 0x2222
    iretd
    PRINT "task 2 (jumped to)", 10
    call show_tr
    mov dword [tss + 0x20], task1_resume
    jmp SEL_TSS:0

task3:
    PRINT "task 3 (task gate)", 10
    movzx eax, word [tss3]
    mov esi, m_link
    call show
    iretd

; tss_desc: GDT entry EBX in NEWGDT for a 32-bit TSS at EAX
tss_desc:
    mov word [NEWGDT + ebx], 0x67
    mov [NEWGDT + ebx + 2], ax
    shr eax, 16
    mov [NEWGDT + ebx + 4], al
    mov byte [NEWGDT + ebx + 5], 0x89
    mov byte [NEWGDT + ebx + 6], 0
    mov [NEWGDT + ebx + 7], ah
    ret

tss_segments:
    mov dword [edi + 0x4c], SEL_CODE32
    mov dword [edi + 0x48], SEL_DATA32
    mov dword [edi + 0x50], SEL_DATA32
    mov dword [edi + 0x54], SEL_DATA32
    mov dword [edi + 0x58], SEL_DATA32
    mov dword [edi + 0x5c], SEL_DATA32
    mov dword [edi + 0x24], 2
    ret

%include "show_tr.inc"

m_back: db "task 1 after call, ebx: ", 0
m_t2desc: db "task 2 descriptor high: ", 0
m_tr: db "tr: ", 0
m_nt: db "nt: ", 0
m_link: db "back link: ", 0
m_ebx: db "ebx seen by task 2: ", 0
m_ts: db "cr0.ts: ", 0
newgdt_desc: dw 0x5f
    dd NEWGDT

section .bss
align 16
tss2: resb 0x68
tss3: resb 0x68
