; What `-d int` logs, event by event: INT n, INT3, INTO (taken and not), INT1, faults with and
; without error codes, #PF with CR2, INT n refused by a DPL0 gate at CPL 3 (the INT is logged,
; then the #GP), a ring 3 -> 0 INT through the TSS stack, a double fault (#GP whose gate is not
; present), and a timer interrupt taken at HLT. tests/qemu-system/int_log_test.ts compares our
; -d int log with QEMU's (tests/golden/pc/int_log.int.txt, recorded by record_int_log.ts).
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define USTACK 0x70000
%define PD     0x300000

; A known register state before each event, so the logged dumps do not depend on the loader.
%macro CLEAN 0
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
%endmacro

main:
    call cpu_setup
    PRINT "int_log", 10
    mov al, 0x81                          ; DPL0 interrupt gate
    mov ebx, ret_handler
    mov dx, 0x8e00
    call set_gate
    mov al, 0x82                          ; DPL3 trap gate: back to ring 0 for good
    mov ebx, to_ring0
    mov dx, 0xef00
    call set_gate
    mov al, 0x20                          ; IRQ0 after the PIC is remapped
    mov ebx, irq0
    mov dx, 0x8e00
    call set_gate
    CLEAN
    int 0x81
    EXPECT .bp
    mov eax, 0x33
    int3
.bp:
    mov eax, 0x7fffffff
    add eax, 1                            ; OF=1
    EXPECT .of
    into
.of:
    xor eax, eax                          ; OF=0: no event
    into
    EXPECT .i1
    db 0xf1                               ; INT1 / ICEBP
.i1:
    EXPECT .gp
    mov ax, 0x1234
    mov ds, ax
.gp:
    mov ax, SEL_DATA32
    mov ds, ax
    EXPECT .ud
    ud2
.ud:
    EXPECT .de
    xor edx, edx
    xor ecx, ecx
    div ecx
.de:
    ; #PF: 4 MiB page 0 mapped, page 1 not
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PD], 0x83
    mov eax, PD
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                          ; PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    EXPECT .pf
    mov eax, [0x00512344]
.pf:
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    ; ring 3: INT 0x81 (DPL0 gate) faults, INT 0x82 returns to ring 0
    mov [saved_esp], esp
    CLEAN
    push dword SEL_DATA3
    push dword USTACK
    pushfd
    push dword SEL_CODE3
    push dword .user
    iretd
.user:
    mov ax, SEL_DATA3
    mov ds, ax
    mov es, ax
    EXPECT .user_gp
    int 0x81
.user_gp:
    int 0x82
.ring0:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    ; double fault: the #GP gate not present
    and byte [idt + 13 * 8 + 5], 0x7f
    EXPECT .df
    CLEAN
    mov ax, 0x1238
    mov fs, ax
.df:
    or byte [idt + 13 * 8 + 5], 0x80
    mov ax, SEL_DATA32
    mov fs, ax
    ; the timer at HLT: PIC master at 0x20 with only IRQ0 unmasked, PIT channel 0 one-shot
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff                          ; slave all masked
    out 0xa1, al
    mov al, 0x30                          ; channel 0, lo/hi, mode 0
    out 0x43, al
    mov al, 0x00
    out 0x40, al
    mov al, 0x10
    out 0x40, al
    CLEAN
    sti
    hlt
    cli
    PRINT "done", 10
    ret

ret_handler:
    iretd

to_ring0:
    mov esp, [saved_esp]                  ; drop the ring-3 frame: stay in ring 0
    jmp main.ring0

irq0:
    push eax
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd

saved_esp: dd 0
