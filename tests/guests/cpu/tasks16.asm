; The 80286 system structures on a 32-bit CPU: task switches to and from 16-bit TSSs (CALL and
; IRET back, JMP and JMP back, a #GP through a task gate with its 16-bit error code), and 16-bit
; interrupt, trap and call gates (the 16-bit frames, the stack switch from ring 3, the call
; gate's word parameters). 16-bit code records what it sees; 32-bit code prints it.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define SEL_TA     0x50                   ; 16-bit TSS, task A
%define SEL_TB     0x58                   ; 16-bit TSS, task B (the #GP task gate's)
%define SEL_C16    0x60                   ; 16-bit code, base LOAD_ADDR
%define SEL_CG     0x68                   ; 16-bit call gate, DPL 3, two word parameters
%define NEWGDT     0x280000
%define USTACK     0x70000
%define OFS(x)     ((x) - mb_header)

; R16 slot, reg: 16-bit code stores a 32-bit register into rec[slot]
%macro R16 2
    mov [dword rec + (%1) * 4], %2
%endmacro

main:
    call cpu_setup
    PRINT "tasks16", 10
    mov esi, gdt
    mov edi, NEWGDT
    mov ecx, gdt_end - gdt
    rep movsb
    mov eax, tssa
    mov ebx, SEL_TA
    call tss16_desc
    mov eax, tssb
    mov ebx, SEL_TB
    call tss16_desc
    mov dword [NEWGDT + SEL_C16], 0x0000ffff
    mov dword [NEWGDT + SEL_C16 + 4], 0x00009a10
    mov dword [NEWGDT + SEL_CG], (SEL_C16 << 16) + OFS(h_callgate)
    mov dword [NEWGDT + SEL_CG + 4], 0x0000e402
    lgdt [newgdt_desc]
    mov edi, tssa + 0x12                  ; AX..DI of task A: 0xa0a0, 0xa1a1, ...
    mov ax, 0xa0a0
    mov ecx, 8
.regs:
    stosw
    add ax, 0x0101
    loop .regs
    mov word [tssa + 0x0e], OFS(task_a)
    mov word [tssa + 0x1a], 0x7000
    mov edi, tssa
    call tss16_segments
    mov word [tssb + 0x0e], OFS(task_b)
    mov word [tssb + 0x1a], 0x6000
    mov edi, tssb
    call tss16_segments
    ; 16-bit gates: 0x60 interrupt gate DPL3, 0x61 trap gate DPL0
    mov al, 0x60
    mov ebx, OFS(h_int16)
    mov dx, 0xe600
    call set_gate16
    mov al, 0x61
    mov ebx, OFS(h_trap16)
    mov dx, 0x8700
    call set_gate16

    ; 1: CALL a 16-bit task; it IRETs back
    mov eax, 0x11110000
    mov ebx, 0x22220000
    mov ecx, 0x33330000
    mov edx, 0x44440000
    mov esi, 0x55550000
    mov edi, 0x66660000
    mov ebp, 0x77770000
    call SEL_TA:0
    PRINT "after call: "
    call dump_regs
    PRINT "task A saw", 10
    call show_rec
    PRINT "task A tss", 10
    mov esi, tssa
    mov ecx, 0x2c / 2
    call dump_words
    call show_busy

    ; 2: JMP to task A: it resumes after its IRET, then JMPs back to task 1
    call clear_rec
    jmp SEL_TA:0
task1_resume:
    PRINT "back from jmp", 10
    call show_rec
    call show_busy

    ; 3: #GP through a task gate to 16-bit task B
    call clear_rec
    mov al, 13
    xor ebx, ebx
    mov dx, 0x8500
    call set_gate
    mov word [idt + 13 * 8 + 2], SEL_TB
    mov ax, 0x1234
    mov ds, ax
gp_resume:
    mov ax, SEL_DATA32
    mov ds, ax
    mov al, 13                            ; the exception stub again
    mov ebx, exc_stubs + 13 * 16
    mov dx, 0x8e00
    call set_gate
    PRINT "task B (#GP task gate) saw", 10
    call show_rec
    PRINT "task B tss", 10
    mov esi, tssb
    mov ecx, 0x2c / 2
    call dump_words
    clts

    ; 4: a 16-bit trap gate at ring 0
    call clear_rec
    mov [saved_esp], esp
    int 0x61
after61:
    PRINT "trap gate 16 saw", 10
    call show_rec

    ; 5: a 16-bit interrupt gate from ring 3, then 6: a 16-bit call gate from ring 3
    call clear_rec
    call to_ring3
    mov eax, 0x0badcafe
    int 0x60
after60:
    mov esp, [saved_esp]
    PRINT "interrupt gate 16 from ring 3 saw", 10
    call show_rec
    call clear_rec
    call to_ring3
    push word 0x1111
    push word 0x2222
    call SEL_CG | 3:0
aftercg:
    mov esp, [saved_esp]
    PRINT "call gate 16 from ring 3 saw", 10
    call show_rec
    ret

; to_ring3: continues at the caller's return address in ring 3 (ESP kept in saved_esp)
to_ring3:
    mov cx, SEL_DATA3                     ; DPL 3 data survives the IRET to ring 3
    mov ds, cx
    mov es, cx
    pop eax
    mov [saved_esp], esp
    push dword SEL_DATA3
    push dword USTACK
    pushfd
    push dword SEL_CODE3
    push eax
    iretd

; back in ring 0 from a 16-bit handler: flat data segments again
ring0_segments:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov ss, ax
    ret

; ---- 16-bit code, run through SEL_C16 (offsets from LOAD_ADDR) ----
[bits 16]
task_a:
    call rec_all
    iret                                  ; NT: back to task 1
    ; resumed here by the JMP
    call rec_all
    mov dword [dword tss + 0x20], task1_resume
    jmp SEL_TSS:0

task_b:
    call rec_all
    mov bp, sp
    mov ax, [bp]                          ; the error code the switch pushed
    R16 12, eax
    mov dword [dword tss + 0x20], gp_resume
    iret

h_trap16:
    call rec_all
    mov eax, [ss:esp]                     ; IP, CS
    R16 12, eax
    mov ax, [ss:esp + 4]                  ; FLAGS
    R16 13, eax
    mov esp, [dword saved_esp]
    jmp dword SEL_CODE32:after61

h_int16:
    call rec_all
    mov eax, [ss:esp]                     ; IP, CS
    R16 12, eax
    mov eax, [ss:esp + 4]                 ; FLAGS, SP
    R16 13, eax
    mov ax, [ss:esp + 8]                  ; SS
    R16 14, eax
    jmp dword SEL_CODE32:.flat
[bits 32]
.flat:
    call ring0_segments
    jmp after60
[bits 16]

h_callgate:
    call rec_all
    mov eax, [ss:esp]                     ; IP, CS
    R16 12, eax
    mov eax, [ss:esp + 4]                 ; the two parameters
    R16 13, eax
    mov eax, [ss:esp + 8]                 ; SP, SS
    R16 14, eax
    jmp dword SEL_CODE32:.flat
[bits 32]
.flat:
    call ring0_segments
    jmp aftercg
[bits 16]

; rec_all: the 16-bit world as the code sees it (the call's own return address not counted)
rec_all:
    R16 0, eax
    R16 1, ebx
    R16 2, ecx
    R16 3, edx
    R16 4, esi
    R16 5, edi
    R16 6, ebp
    lea eax, [esp + 2]
    R16 7, eax
    pushfd
    pop eax
    R16 8, eax
    mov ax, ss
    shl eax, 16
    mov ax, cs
    R16 9, eax
    mov ax, fs
    shl eax, 16
    mov ax, ds
    R16 10, eax
    str ax
    shl eax, 16
    mov ax, [dword tssa]                  ; back links of both 16-bit TSSs
    or ax, [dword tssb]
    R16 11, eax
    ret
[bits 32]

; ---- 32-bit helpers ----

; set_gate16: IDT entry AL, offset BX in SEL_C16, type/DPL word DX
set_gate16:
    call set_gate
    movzx eax, al
    mov word [idt + eax * 8 + 2], SEL_C16
    ret

; tss16_desc: GDT entry EBX in NEWGDT for a 16-bit TSS at EAX (limit 0x2b, type 1, present)
tss16_desc:
    mov ecx, eax
    shl ecx, 16
    or ecx, 0x2b
    mov edx, eax
    and edx, 0xff000000
    shr eax, 16
    movzx eax, al
    or edx, eax
    or edx, 0x8100
    mov [NEWGDT + ebx], ecx
    mov [NEWGDT + ebx + 4], edx
    ret

tss16_segments:
    mov word [edi + 0x10], 2              ; FLAGS
    mov word [edi + 0x22], SEL_DATA32     ; ES
    mov word [edi + 0x24], SEL_C16        ; CS
    mov word [edi + 0x26], SEL_DATA16     ; SS
    mov word [edi + 0x28], SEL_DATA32     ; DS
    ret

show_busy:
    PRINT "descriptors "
    mov eax, [NEWGDT + SEL_TSS + 4]
    call hex32
    PRINT " "
    mov eax, [NEWGDT + SEL_TA + 4]
    call hex32
    PRINT " cr0.ts "
    mov eax, cr0
    and eax, 8
    call hex32
    call newline
    ret

dump_regs:
    push esi
    push ecx
    push eax
    mov [scratch], eax
    mov [scratch + 4], ebx
    mov [scratch + 8], ecx
    mov [scratch + 12], edx
    mov [scratch + 16], esi
    mov [scratch + 20], edi
    mov [scratch + 24], ebp
    mov esi, scratch
    mov ecx, 7
    call dump_dwords
    pop eax
    pop ecx
    pop esi
    ret

show_rec:
    mov esi, rec
    mov ecx, 15
    ; fall through
; dump_dwords: ECX dwords at ESI, space separated, newline
dump_dwords:
    lodsd
    call hex32
    mov al, ' '
    call putc
    loop dump_dwords
    call newline
    ret

; dump_words: ECX words at ESI
dump_words:
    lodsw
    movzx eax, ax
    call hex32
    mov al, ' '
    call putc
    loop dump_words
    call newline
    ret

clear_rec:
    mov edi, rec
    xor eax, eax
    mov ecx, 15
    rep stosd
    ret

newgdt_desc: dw 0x6f
    dd NEWGDT
saved_esp: dd 0
scratch: times 8 dd 0
rec: times 15 dd 0
align 16
tssa: times 0x2c db 0
align 16
tssb: times 0x2c db 0
