; Virtual-8086 mode extensions and protected-mode virtual interrupts (SDM Vol. 3A, 20.3-20.4):
; with CR4.VME and IOPL < 3, CLI/STI/PUSHF/POPF/IRET work on VIF, STI and POPF fault when VIP is
; pending, 32-bit PUSHFD/POPFD fault, INT n follows the TSS interrupt redirection bitmap (clear:
; the V86 handler from the IVT; set: #GP); with IOPL 3 the redirected INT clears IF. With CR4.PVI
; at CPL 3, CLI/STI work on VIF. V86 and ring-3 code record FLAGS in memory; each phase ends at
; a HLT, whose #GP prints the record and the real EFLAGS.
;
; QEMU 7.2's TCG implements neither extension (nor sets CPUID.VME, also with -cpu pentium): its
; golden shows the #GPs of plain V86 and CPL 3. Lines that differ because we follow the SDM:
; [differs] A:
; [differs] B:
; [differs] C:
; [differs] D:
; [differs] E:
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define V86_BASE 0x7000
%define REC      0x5000                   ; V86 DS = 0x0500
%define USTACK   0x70000
%define CR4_VME  1
%define CR4_PVI  2

; GO_V86 eflags, entry: IRET into V86 at 0000:entry with SS:SP 0000:6000 and DS 0500
%macro GO_V86 2
    push dword 0
    push dword 0
    push dword REC >> 4
    push dword 0
    push dword 0
    push dword 0x6000
    push dword %1
    push dword 0
    push dword %2 - v86_start + V86_BASE
    iretd
%endmacro

; GO_RING3 eflags, entry: IRET to flat ring 3 code
%macro GO_RING3 2
    mov cx, SEL_DATA3
    mov ds, cx
    mov es, cx
    push dword SEL_DATA3
    push dword USTACK
    push dword %1
    push dword SEL_CODE3
    push dword %2
    iretd
%endmacro

%macro PHASE 2
    PRINT %1, 10
    mov dword [next_phase], %2
    mov edi, REC
    xor eax, eax
    mov ecx, 8
    rep stosd
%endmacro

main:
    call cpu_setup
    PRINT "vme", 10
    mov eax, 1
    cpuid
    and edx, 2
    mov eax, edx
    mov esi, m_cpuid
    call show
    mov esi, section.v86blob.start
    mov edi, V86_BASE
    mov ecx, v86_end - v86_start
    rep movsb
    mov al, 13
    mov ebx, gp_handler
    mov dx, 0x8e00
    call set_gate
    mov dword [0x21 * 4], h21 - v86_start + V86_BASE   ; IVT 0x21 = 0000:h21
    ; redirection bitmap (32 bytes below the I/O bitmap, which moves to 0x88): only 0x21 clear
    mov word [tss + 0x66], 0x88
    mov edi, tss + 0x68
    mov al, 0xff
    mov ecx, 32
    rep stosb
    and byte [tss + 0x68 + 0x21 / 8], ~(1 << (0x21 % 8))
    mov [saved_esp], esp

    mov eax, cr4
    or eax, CR4_VME
    mov cr4, eax
    PHASE "A: VME, IOPL 0", .b
    GO_V86 0x20002, phase_a
.b:
    PHASE "B: VME, IOPL 0, VIP", .c
    GO_V86 0x120002, phase_b
.c:
    PHASE "C: VME, IOPL 3", .d
    GO_V86 0x23002, phase_c
.d:
    mov eax, cr4
    xor eax, CR4_VME | CR4_PVI
    mov cr4, eax
    PHASE "D: PVI, CPL 3", .e
    GO_RING3 0x2, ring3_d
.e:
    PHASE "E: PVI, CPL 3, VIP", .f
    GO_RING3 0x100002, ring3_e
.f:
    mov eax, cr4
    and eax, ~CR4_PVI
    mov cr4, eax
    PHASE "F: no PVI, CPL 3", .done
    GO_RING3 0x2, ring3_f
.done:
    ret

; #GP: report it and skip the instruction, or at HLT print the record and go to the next phase
gp_handler:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov eax, [esp + 4]
    test dword [esp + 12], 0x20000
    jz .flat
    movzx eax, ax
    movzx ebx, word [esp + 8]
    shl ebx, 4
    add eax, ebx
.flat:
    movzx ebx, byte [eax]
    cmp bl, 0xf4
    je .end
    PRINT "#GP "
    mov eax, [esp]
    call hex32
    PRINT " at "
    mov eax, [esp + 4]
    call hex32
    PRINT " op "
    mov al, bl
    call hex8
    PRINT " eflags "
    mov eax, [esp + 12]
    call hex32
    call newline
    mov eax, 1
    cmp bl, 0xcd
    je .two
    cmp bl, 0x66
    jne .skip
.two:
    mov eax, 2
.skip:
    add [esp + 4], eax
    mov ax, SEL_DATA3                     ; ring 3 keeps a usable DS after the IRET
    mov ds, ax
    mov es, ax
    add esp, 4
    iretd
.end:
    PRINT "end eflags "
    mov eax, [esp + 12]
    call hex32
    PRINT " record"
    mov esi, REC
    mov ecx, 10
.rec:
    lodsw
    movzx eax, ax
    mov [scratch], eax
    mov al, ' '
    call putc
    mov eax, [scratch]
    call hex32
    loop .rec
    call newline
    mov esp, [saved_esp]
    jmp [next_phase]

; ---- ring 3 (PVI) ----
ring3_d:
    sti                                   ; VIF = 1
    pushfd
    pop dword [REC]
    cli                                   ; VIF = 0
    pushfd
    pop dword [REC + 4]
    hlt
ring3_e:
    sti                                   ; VIP pending: #GP
    cli
    pushfd
    pop dword [REC]
    hlt
ring3_f:
    cli                                   ; CPL 3 > IOPL, no PVI: #GP
    hlt

m_cpuid: db "cpuid.1 edx.vme: ", 0
saved_esp: dd 0
next_phase: dd 0
scratch: dd 0

section v86blob vstart=V86_BASE align=16
v86_start:
[bits 16]
phase_a:
    pushf                                 ; IF shows VIF (0), IOPL shows 3
    pop word [0]
    sti                                   ; VIF = 1
    pushf
    pop word [2]
    cli                                   ; VIF = 0
    pushf
    pop word [4]
    push word 0x0200                      ; POPF with IF = 1: VIF = 1
    popf
    pushf
    pop word [6]
    mov ax, 0x1234
    int 0x21                              ; redirected to the IVT handler
    pushf                                 ; the handler's IRET gave VIF back
    pop word [16]
    int 0x22                              ; redirection bit set: #GP(0)
    pushfd                                ; 32-bit: #GP(0)
    popfd                                 ; 32-bit: #GP(0)
    hlt

phase_b:
    sti                                   ; VIP: #GP(0)
    push word 0x0200
    popf                                  ; IF = 1 with VIP: #GP(0)
    pop ax
    push word 0x0100
    popf                                  ; TF = 1: #GP(0)
    pop ax
    push word 0x0000
    popf
    pushf
    pop word [0]
    hlt

phase_c:
    cli                                   ; IOPL 3: IF itself
    pushf
    pop word [0]
    int 0x21                              ; redirected, IF and TF cleared
    pushf
    pop word [16]
    hlt

; INT 0x21 in V86: record the frame and the FLAGS the handler runs with
h21:
    push bp
    mov bp, sp
    pushf
    pop word [8]
    mov ax, [bp + 2]
    mov [10], ax                          ; IP
    mov ax, [bp + 4]
    mov [12], ax                          ; CS
    mov ax, [bp + 6]
    mov [14], ax                          ; FLAGS
    pop bp
    iret
v86_end:
