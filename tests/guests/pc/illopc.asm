; `-d unimp`: QEMU's translator logs "ILLOPC: <address>: <bytes>" when it meets an opcode it does
; not know, then raises #UD; opcodes it knows to be invalid (UD2, UD1, UD0, LOCK on an instruction
; that takes none, a register operand where memory is required) raise #UD without a line. Each case
; below is followed by its resume address; the #UD handler prints where it came from and goes on.
; One undefined opcode runs twice in one translation block: QEMU logs it once, when it translates
; it. The data the guest writes lives outside the code's page, so no store makes QEMU translate the
; code again.
; tests/qemu-system/illopc_test.ts compares the log with tests/golden/pc/illopc.log.
%include "multiboot.inc"

%define resume 0x80000
%define idt 0x81000

%macro UD_CASE 1+
    mov dword [resume], %%after
    db %1
%%after:
%endmacro

main:
    mov eax, ud_handler                ; an interrupt gate for #UD, selector 0x08
    mov [idt + 6 * 8], ax
    mov word [idt + 6 * 8 + 2], 0x08
    mov word [idt + 6 * 8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 6 * 8 + 6], ax
    lidt [idtr]
    UD_CASE 0x0f, 0x0b                 ; ud2
    UD_CASE 0x0f, 0xb9, 0xc0           ; ud1 eax, eax
    UD_CASE 0x0f, 0xff, 0xc0           ; ud0 eax, eax
    UD_CASE 0x0f, 0x04                 ; undefined
    UD_CASE 0x0f, 0x0a
    UD_CASE 0x0f, 0xa6
    UD_CASE 0x66, 0x0f, 0x04           ; with a prefix
    UD_CASE 0x2e, 0x66, 0x0f, 0xa7
    UD_CASE 0xff, 0xf8                 ; ff /7
    UD_CASE 0xfe, 0xd0                 ; fe /2
    UD_CASE 0x8d, 0xc0                 ; lea eax, eax
    UD_CASE 0x62, 0xc0                 ; bound eax, eax
    UD_CASE 0x0f, 0xc7, 0xc8           ; cmpxchg8b eax
    UD_CASE 0xf0, 0x90                 ; lock nop
    UD_CASE 0xf0, 0x01, 0xc0           ; lock add eax, eax
    mov ecx, 2
    jmp .twice                         ; both passes start a translation block at .twice
.twice:
    UD_CASE 0x0f, 0x04
    loop .twice
    ret

ud_handler:
    PRINT "#UD at "
    push eax
    mov eax, [esp + 4]                 ; the faulting EIP
    call hex32
    call newline
    mov eax, [resume]
    mov [esp + 4], eax
    pop eax
    iret

idtr:
    dw 8 * 8 - 1
    dd idt
