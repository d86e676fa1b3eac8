; What kvm_intel's shadow MMU (ept=0) must keep exact, printed so that tcg and -enable-kvm under
; ept=0 can be compared line by line: CR3 and SMSW read back the guest's own values; INVLPG
; inside a 4 MiB page and after a 4 KiB PTE change; a single-step trap whose delivery needs IDT
; and stack pages the shadow dropped at a CR3 load (the exit in the middle of delivery must not
; lose it); a CR3 load with global pages; a page mapped onto guest-physical memory that nothing
; backs.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define PD      0x300000
%define PT2     0x301000                  ; the 4 KiB window at linear 0x40400000
%define BIG     0x40000000                ; a 4 MiB page
%define SMALL   0x40400000
%define HOLE    0x40401000                ; onto guest-physical 0xE0000000 (no RAM, no device)
%define IDT2    0x310000                  ; a copy of the IDT on a page of its own

main:
    call cpu_setup
    PRINT "shadow", 10
    mov edi, PD
    xor eax, eax
    mov ecx, 2 * 1024                     ; PD, PT2
    rep stosd
    mov dword [PD + 0], 0x83              ; 0..4 MiB: one identity 4 MiB page
    mov dword [PD + (BIG >> 22) * 4], 0x400000 | 0x83
    mov dword [PD + (SMALL >> 22) * 4], PT2 | 3
    mov dword [PT2 + 0], 0x200000 | 3
    mov dword [PT2 + 4], 0xe0000000 | 3
    mov dword [0x200000], 0x20202020
    mov dword [0x201000], 0x21212121
    mov dword [0x401000], 0x40404040
    mov dword [0x801000], 0x80808080
    mov eax, cr4
    or eax, 0x10                          ; PSE
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000                    ; PG, WP
    mov cr0, eax
    PRINT "paging on", 10

    mov eax, cr3
    mov esi, m_cr3
    call show
    smsw eax
    mov esi, m_smsw
    call show

    ; a 4 MiB page moved to another frame: INVLPG of one address in it
    mov eax, [BIG + 0x1000]
    mov esi, m_big
    call show
    mov dword [PD + (BIG >> 22) * 4], 0x800000 | 0x83
    invlpg [BIG + 0x1000]
    mov eax, [BIG + 0x1000]
    mov esi, m_big_invlpg
    call show

    ; a 4 KiB PTE moved to another frame
    mov eax, [SMALL]
    mov esi, m_small
    call show
    mov dword [PT2 + 0], 0x201000 | 3
    invlpg [SMALL]
    mov eax, [SMALL]
    mov esi, m_small_invlpg
    call show
    mov eax, [PT2 + 0]
    mov esi, m_pte
    call show

    ; single-step trap right after a CR3 load, with the IDT on a page of its own that nothing
    ; else touches: the trap's delivery is the first access to it since the load
    mov al, 1
    mov ebx, db_handler
    mov dx, 0x8e00
    call set_gate
    mov esi, idt
    mov edi, IDT2
    mov ecx, 256 * 2
    rep movsd
    lidt [idt2_desc]
    mov eax, cr3
    mov cr3, eax
    pushfd
    or dword [esp], 0x100
    popfd
    nop
stepped:
    nop
    mov eax, [steps]
    mov esi, m_steps
    call show

    ; global pages (CR4.PGE): a CR3 load may keep them, but never a non-global entry
    mov eax, cr4
    or eax, 0x80
    mov cr4, eax
    mov dword [PT2 + 8], 0x200000 | 0x103 ; SMALL + 0x2000: global
    mov dword [PT2 + 12], 0x200000 | 3    ; SMALL + 0x3000: not global
    mov eax, [SMALL + 0x2000]
    add eax, [SMALL + 0x3000]
    mov esi, m_global
    call show
    mov dword [PT2 + 8], 0x201000 | 0x103
    mov dword [PT2 + 12], 0x201000 | 3
    mov eax, cr3
    mov cr3, eax
    mov eax, [SMALL + 0x3000]
    mov esi, m_local_cr3
    call show
    invlpg [SMALL + 0x2000]
    mov eax, [SMALL + 0x2000]
    mov esi, m_global_invlpg
    call show

    ; guest-physical memory with nothing behind it
    mov eax, [HOLE]
    mov esi, m_hole
    call show

    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov eax, [0x201000]
    mov esi, m_off
    call show
    mov al, 0
    jmp exit

; #DB: counts the trap, prints where it came, clears TF in the frame.
db_handler:
    and dword [esp + 8], ~0x100
    inc dword [steps]
    push eax
    push esi
    mov eax, [esp + 8]
    mov esi, m_db
    call show
    pop esi
    pop eax
    iretd

steps: dd 0
idt2_desc:
    dw 256 * 8 - 1
    dd IDT2
m_cr3: db "cr3: ", 0
m_smsw: db "smsw: ", 0
m_big: db "4M page: ", 0
m_big_invlpg: db "4M page after invlpg: ", 0
m_small: db "4K page: ", 0
m_small_invlpg: db "4K page after invlpg: ", 0
m_pte: db "pte: ", 0
m_db: db "single-step trap at: ", 0
m_steps: db "traps: ", 0
m_hole: db "unbacked: ", 0
m_global: db "global + non-global: ", 0
m_local_cr3: db "non-global after cr3 reload: ", 0
m_global_invlpg: db "global after invlpg: ", 0
m_off: db "paging off: ", 0
