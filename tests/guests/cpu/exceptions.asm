; Exceptions in 32-bit protected mode, ring 0: vector, error code and faulting EIP for #DE #DB
; #BP #OF #BR #UD #NP #SS #GP (several causes) #NM, and the IDT's own checks.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

main:
    call cpu_setup
    PRINT "exceptions", 10
    ; #DE: divide by zero and quotient overflow
    EXPECT .de1
    xor ecx, ecx
    div ecx
.de1:
    EXPECT .de2
    mov edx, 1
    mov eax, 0
    mov ecx, 1
    div ecx
.de2:
    ; #BP and #OF are traps: EIP after the instruction
    EXPECT .bp
    int3
.bp:
    EXPECT .of
    mov al, 0x7f
    add al, 1
    into
.of:
    ; no #OF when OF=0
    xor eax, eax
    into
    ; #BR
    EXPECT .br
    mov eax, 5
    bound eax, [bounds]
.br:
    ; #UD: ud2, lock on a non-lockable instruction is accepted by QEMU? use an undefined opcode
    EXPECT .ud1
    ud2
.ud1:
    EXPECT .ud2
    db 0x8e, 0xc8                         ; mov cs, ax
.ud2:
    ; #NP: load a not-present data segment
    EXPECT .np
    mov ax, SEL_NP
    mov ds, ax
.np:
    ; #SS: not-present selector into SS
    EXPECT .ss
    mov ax, SEL_NP
    mov ss, ax
.ss:
    ; #GP: selector beyond the GDT limit, null SS, code segment into DS is fine (readable)
    EXPECT .gp1
    mov ax, 0x1000
    mov ds, ax
.gp1:
    EXPECT .gp2
    xor ax, ax
    mov ss, ax
.gp2:
    EXPECT .gp3
    mov ax, SEL_DATA3                     ; RPL 3 > CPL 0 is fine for data; DPL 3 >= CPL fine
    mov es, ax
    mov ax, SEL_DATA3
    mov ss, ax                            ; SS needs RPL = DPL = CPL: #GP(0x38)
.gp3:
    mov ax, SEL_DATA32
    mov es, ax
    ; #GP(0): CR0.PG without CR0.PE is impossible to reach here; CR0 with NW but not CD is #GP(0)
    EXPECT .gp4
    mov eax, cr0
    or eax, 1 << 29
    and eax, ~(1 << 30)
    mov cr0, eax
.gp4:
    ; #GP: INT n through a gate beyond the IDT limit (vector 0x90 with limit 0x7ff is inside),
    ; so shrink the IDT limit first
    mov word [small_idt], 0x7f
    mov eax, idt
    mov [small_idt + 2], eax
    lidt [small_idt]
    EXPECT .gp5
    int 0x40
.gp5:
    lidt [idt_desc]
    ; #NP on a not-present gate (vector 0x41 left empty): error code = vector*8 + 2
    EXPECT .np2
    int 0x41
.np2:
    ; #NM: CR0.TS with an x87 instruction
    EXPECT .nm
    mov eax, cr0
    or eax, 8
    mov cr0, eax
    fld1
.nm:
    clts
    ; #DB via INT1 (ICEBP)
    EXPECT .db
    db 0xf1
.db:
    ; a software interrupt through a DPL0 trap gate works at CPL 0
    mov al, 0x42
    mov ebx, int42
    mov dx, 0x8f00
    call set_gate
    mov eax, 0x1234
    int 0x42
    mov esi, msg_int42
    call show
    PRINT "done", 10
    ret

int42:
    add eax, 1
    iretd

msg_int42: db "int 0x42 returned ", 0
bounds: dd 0, 4
small_idt: dw 0
    dd 0
