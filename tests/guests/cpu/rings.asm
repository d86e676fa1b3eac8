; Privilege levels: IRET to ring 3, INT 0x80 through a DPL3 gate with the TSS stack switch, #GP
; for privileged instructions and for a DPL0 gate from ring 3, a call gate back to ring 0 with a
; parameter, far return to ring 3, IOPL and the TSS I/O bitmap, user-mode #PF (error code 4..7),
; SYSENTER/SYSEXIT, and what PUSHF/POPF may change at CPL 3.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define USTACK 0x70000
%define PD     0x300000
%define PT0    0x301000

main:
    call cpu_setup
    PRINT "rings", 10
    ; gates: int 0x80 DPL3 interrupt gate, int 0x81 DPL0
    mov al, 0x80
    mov ebx, sys80
    mov dx, 0xee00
    call set_gate
    mov al, 0x81
    mov ebx, sys80
    mov dx, 0x8e00
    call set_gate
    ; call gate at GDT 0x48: DPL3, 32-bit, one parameter, to gate_target in ring 0
    mov eax, gate_target
    mov [gdt + SEL_GATE], ax
    mov word [gdt + SEL_GATE + 2], SEL_CODE32
    mov word [gdt + SEL_GATE + 4], 0xec01
    shr eax, 16
    mov [gdt + SEL_GATE + 6], ax
    ; I/O bitmap: all ports allowed except 0x80..0x87
    mov edi, tss + 0x68
    xor eax, eax
    mov ecx, 0x2000 / 4
    rep stosd
    mov byte [tss + 0x68 + 0x10], 0xff
    mov byte [tss + 0x68 + 0x2000], 0xff
    ; paging with one supervisor-only page at 0x200000 (everything else user)
    mov edi, PT0
    mov eax, 0x007
    mov ecx, 1024
.id:
    stosd
    add eax, 0x1000
    loop .id
    and dword [PT0 + 0x200 * 4], ~4
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PD], PT0 | 7
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    ; SYSENTER MSRs
    mov ecx, 0x174
    xor edx, edx
    mov eax, SEL_CODE32
    wrmsr
    mov ecx, 0x175
    mov eax, 0x7f000
    wrmsr
    mov ecx, 0x176
    mov eax, sysenter_target
    wrmsr
    ; enter ring 3 with IOPL 0
    push dword SEL_DATA3
    push dword USTACK
    push dword 0x002
    push dword SEL_CODE3
    push dword user
    iretd

user:
    mov ax, SEL_DATA3
    mov ds, ax
    mov es, ax
    mov eax, cs
    mov esi, m_cs
    call show
    ; system call through the DPL3 gate
    mov eax, 5
    int 0x80
    mov esi, m_sys
    call show
    ; #GP(0x81*8+2): DPL0 gate from ring 3
    EXPECT .g1
    int 0x81
.g1:
    ; #GP(0): privileged instructions
    EXPECT .g2
    cli
.g2:
    EXPECT .g3
    hlt
.g3:
    EXPECT .g4
    mov eax, cr0
.g4:
    ; I/O: port 0x70 allowed by the bitmap, 0x80 refused
    mov dx, 0x70
    in al, dx
    EXPECT .g5
    mov dx, 0x80
    out dx, al
.g5:
    ; user access to a supervisor page: #PF err 5 (read) / 7 (write)
    EXPECT .p1
    mov eax, [0x200000]
.p1:
    EXPECT .p2
    mov dword [0x200010], 1
.p2:
    ; user write to an unmapped page: err 6
    EXPECT .p3
    mov dword [0x800000], 1
.p3:
    ; POPF at CPL 3 with IOPL 0 leaves IF and IOPL alone
    pushfd
    pop eax
    or eax, 0x3200
    push eax
    popfd
    pushfd
    pop eax
    mov esi, m_flags
    call show
    ; call gate to ring 0 with one parameter
    push dword 0xabcd
    call SEL_GATE:0
    mov esi, m_gate
    call show
    mov eax, esp
    mov esi, m_esp
    call show
    ; SYSENTER to ring 0; SYSEXIT comes back to sysexit_back with ESP = ECX
    mov ecx, USTACK - 0x100
    mov edx, sysexit_back
    sysenter
sysexit_back:
    mov eax, cs
    mov esi, m_sysexit
    call show
    mov eax, ss
    call show
    mov eax, esp
    call show
    ; back to ring 0 for the exit path
    mov eax, 0
    int 0x80

sys80:
    ; ring 0 handler: EAX selects; 5 -> return EAX*3 and the caller's SS, 0 -> finish in ring 0
    test eax, eax
    jz .finish
    lea eax, [eax + eax * 2]
    mov ebx, [esp + 16]                   ; the caller's SS in the frame
    shl ebx, 16
    or eax, ebx
    iretd
.finish:
    mov ax, SEL_DATA32
    mov ds, ax
    mov es, ax
    mov eax, [esp + 12]                   ; user ESP in the frame
    mov esi, m_frame
    call show
    mov esp, 0x80000
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    PRINT "done", 10
    xor eax, eax
    jmp exit

gate_target:
    ; frame: EIP, CS, param, ESP, SS
    mov eax, [esp + 8]
    shl eax, 16
    mov ax, [esp + 4]
    retf 4

sysenter_target:
    mov eax, cs
    mov esi, m_sysenter
    call show
    mov eax, esp
    call show
    sysexit

m_cs: db "ring 3 cs: ", 0
m_sys: db "int 0x80 returned ", 0
m_flags: db "eflags after popf: ", 0
m_gate: db "call gate returned ", 0
m_esp: db "esp after retf 4: ", 0
m_sysenter: db "sysenter cs/esp: ", 0
m_sysexit: db "sysexit cs/ss/esp: ", 0
m_frame: db "user esp in frame: ", 0
