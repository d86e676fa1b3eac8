; PAE paging (SDM Vol. 3A, 4.4): a PDPT at a 32-byte (not page) boundary named by CR3 bits 31:5,
; 8-byte entries, 4 KiB pages and 2 MiB pages, accessed/dirty flags, #PF error codes and CR2 for a
; not-present PTE and PDPTE, CR0.WP, reserved-bit faults (error code bit 3: an address bit above
; MAXPHYADDR 36, XD without EFER.NXE, bit 13 of a 2 MiB page), INVLPG, a CR3 reload, CR4.PGE with a
; second address space (a global page mapped alike in both, a non-global one not), paging off.
; Under -enable-kvm it runs on kvm_intel's shadow MMU (ept=0) or EPT (ept=1) and must print the same.
;
; QEMU 7.2's TCG leaves the present bit out of a reserved-bit fault's error code (8, 0xa); the SDM
; (4.7) and KVM set it (9, 0xb), as we do. Lines that differ because we follow the SDM:
; [differs] exc 0e err 0000000
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define PDPT   0x300020                   ; CR3 = PDPT: bits 11:5 matter under PAE
%define PD0    0x301000                   ; linear 0..1 GiB
%define PD3    0x302000                   ; linear 3..4 GiB
%define PT0    0x303000                   ; identity map of 0..2 MiB
%define PT3    0x304000                   ; linear 0xC0000000..0xC01FFFFF
%define HIGH   0xC0000000
%define BIG    0xC0200000                 ; a 2 MiB page onto 0x600000
%define PDPT2  0x305020                   ; a second address space
%define PD3B   0x306000
%define PT3B   0x307000

main:
    call cpu_setup
    PRINT "pae", 10
    ; clear the tables
    mov edi, 0x300000
    xor eax, eax
    mov ecx, 0x5000 / 4
    rep stosd
    ; identity-map 0..2 MiB with 4 KiB pages, 2..8 MiB with 2 MiB pages
    mov edi, PT0
    mov eax, 0x003
    mov ecx, 512
.id:
    mov [edi], eax
    add edi, 8
    add eax, 0x1000
    loop .id
    mov dword [PD0 + 0], PT0 | 3
    mov dword [PD0 + 8], 0x200000 | 0x83
    mov dword [PD0 + 16], 0x400000 | 0x83
    mov dword [PD0 + 24], 0x600000 | 0x83
    mov dword [PDPT + 0], PD0 | 1
    mov dword [PDPT + 24], PD3 | 1
    mov dword [PD3 + 0], PT3 | 7
    mov dword [PD3 + 8], 0x600000 | 0x83          ; 2 MiB RW
    mov dword [PD3 + 16], 0x800000 | 0x2000 | 0x83 ; 2 MiB with reserved bit 13
    mov dword [PT3 + 0 * 8], 0x500000 | 3          ; RW
    mov dword [PT3 + 1 * 8], 0                     ; not present
    mov dword [PT3 + 2 * 8], 0x501000 | 1          ; read-only
    mov dword [PT3 + 3 * 8], 0x502000 | 3
    mov dword [PT3 + 3 * 8 + 4], 0x100             ; address bit 40: above MAXPHYADDR
    mov dword [PT3 + 4 * 8], 0x503000 | 3
    mov dword [PT3 + 4 * 8 + 4], 0x80000000        ; XD without EFER.NXE: reserved
    mov dword [0x500000], 0x11111111
    mov dword [0x501000], 0x22222222
    mov dword [0x600010], 0x77777777
    ; PAE, then CR3, then paging
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, PDPT
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    PRINT "paging on", 10
    mov eax, cr3
    mov esi, m_cr3v
    call show
    mov eax, [HIGH]
    mov esi, m_read
    call show
    mov eax, [PT3]
    mov esi, m_pte_read
    call show
    mov dword [HIGH + 4], 0x33333333
    mov eax, [PT3]
    mov esi, m_pte_write
    call show
    mov eax, [PT3 + 4]
    mov esi, m_pte_high
    call show
    mov eax, [0x500004]
    mov esi, m_phys
    call show
    mov eax, [PD3]
    mov esi, m_pde
    call show
    ; the 2 MiB page: accessed and dirty land in the PDE
    mov eax, [BIG + 0x10]
    mov esi, m_big
    call show
    mov dword [BIG + 0x14], 0x44444444
    mov eax, [PD3 + 8]
    mov esi, m_pde2m
    call show
    mov eax, [0x600014]
    mov esi, m_phys
    call show
    ; not-present PTE, read and write
    EXPECT .np_r
    mov eax, [HIGH + 0x1004]
.np_r:
    mov eax, cr2
    mov esi, m_cr2
    call show
    EXPECT .np_w
    mov dword [HIGH + 0x1008], 1
.np_w:
    mov eax, cr2
    mov esi, m_cr2
    call show
    ; not-present PDPTE (linear 1..2 GiB)
    EXPECT .np_pdpte
    mov eax, [0x40000010]
.np_pdpte:
    mov eax, cr2
    mov esi, m_cr2
    call show
    ; reserved bits: error code 9 (present, reserved)
    EXPECT .rsvd_addr
    mov eax, [HIGH + 0x3000]
.rsvd_addr:
    mov eax, cr2
    mov esi, m_cr2
    call show
    EXPECT .rsvd_xd
    mov dword [HIGH + 0x4000], 1
.rsvd_xd:
    mov eax, cr2
    mov esi, m_cr2
    call show
    EXPECT .rsvd_big
    mov eax, [BIG + 0x200000]
.rsvd_big:
    mov eax, cr2
    mov esi, m_cr2
    call show
    ; supervisor write to a read-only page: allowed with WP=0, a fault (3) with WP=1
    mov dword [HIGH + 0x2000], 0x55555555
    mov eax, [0x501000]
    mov esi, m_wp0
    call show
    mov eax, cr0
    or eax, 1 << 16
    mov cr0, eax
    EXPECT .wp1
    mov dword [HIGH + 0x2000], 0x66666666
.wp1:
    mov eax, [0x501000]
    mov esi, m_wp1
    call show
    ; INVLPG after repointing the RW page
    mov dword [PT3], 0x501000 | 3
    invlpg [HIGH]
    mov eax, [HIGH]
    mov esi, m_invlpg
    call show
    ; a reload of CR3 flushes too
    mov dword [PT3], 0x500000 | 3
    mov eax, cr3
    mov cr3, eax
    mov eax, [HIGH]
    mov esi, m_reload
    call show
    ; CR4.PGE and a second address space (another PDPT): a global page mapped alike in both,
    ; a non-global one mapped differently, each read after every CR3 switch
    mov dword [PT3], 0x500000 | 0x103             ; global
    mov dword [PT3 + 7 * 8], 0x503000 | 3
    mov dword [0x503000], 0x88888888
    mov edi, PDPT2
    xor eax, eax
    mov ecx, (0x3000 - 0x20) / 4
    rep stosd
    mov dword [PDPT2 + 0], PD0 | 1
    mov dword [PDPT2 + 24], PD3B | 1
    mov dword [PD3B], PT3B | 7
    mov dword [PT3B + 0 * 8], 0x500000 | 0x103    ; the same global page
    mov dword [PT3B + 7 * 8], 0x501000 | 3        ; another page
    mov eax, cr3
    mov cr3, eax
    mov eax, cr4
    or eax, 0x80
    mov cr4, eax
    mov esi, m_space_a
    call show_spaces
    mov eax, PDPT2
    mov cr3, eax
    mov esi, m_space_b
    call show_spaces
    mov eax, PDPT
    mov cr3, eax
    mov esi, m_space_a
    call show_spaces
    mov eax, cr4
    and eax, ~0x80
    mov cr4, eax
    ; paging off again
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov eax, [0x500004]
    mov esi, m_off
    call show
    ret

; show_spaces: prints the string at ESI, then the global and the non-global page's first dword
show_spaces:
    call puts
    mov eax, [HIGH]
    call hex32
    mov al, ' '
    call putc
    mov eax, [HIGH + 0x7000]
    call hex32
    call newline
    ret

m_space_a: db "space A: ", 0
m_space_b: db "space B: ", 0
m_cr3v: db "cr3: ", 0
m_read: db "read via 0xc0000000: ", 0
m_pte_read: db "pte after read: ", 0
m_pte_write: db "pte after write: ", 0
m_pte_high: db "pte high dword: ", 0
m_phys: db "physical: ", 0
m_pde: db "pde: ", 0
m_big: db "2M page read: ", 0
m_pde2m: db "2M pde: ", 0
m_cr2: db "cr2: ", 0
m_wp0: db "after WP=0 write: ", 0
m_wp1: db "after WP=1 write: ", 0
m_invlpg: db "after invlpg: ", 0
m_reload: db "after cr3 reload: ", 0
m_off: db "paging off: ", 0
