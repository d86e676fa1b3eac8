; Two-level paging: 4 KiB and 4 MiB (PSE) pages, accessed/dirty bits in PDEs and PTEs, #PF error
; codes and CR2 for not-present and write-protect faults, CR0.WP for supervisor writes, INVLPG
; after a PTE change, and paging turned off again.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define PD     0x300000
%define PT0    0x301000                   ; identity map of 0..4 MiB
%define PT1    0x302000                   ; the window at linear 0x40000000
%define ALIAS  0x40000000

main:
    call cpu_setup
    PRINT "paging", 10
    ; identity-map 0..4 MiB with 4 KiB pages
    mov edi, PT0
    mov eax, 0x003
    mov ecx, 1024
.id:
    stosd
    add eax, 0x1000
    loop .id
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PD + 0], PT0 | 3
    mov dword [PD + 4], 0x400000 | 0x83   ; 4 MiB page, identity
    mov dword [PD + (ALIAS >> 22) * 4], PT1 | 7
    mov edi, PT1
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PT1 + 0], 0x200000 | 3     ; RW
    mov dword [PT1 + 4], 0                ; not present
    mov dword [PT1 + 8], 0x201000 | 1     ; read-only
    mov dword [PT1 + 12], 0x202000 | 7    ; user RW
    mov dword [0x200000], 0x11111111
    mov dword [0x201000], 0x22222222
    ; paging on, PSE on
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    PRINT "paging on", 10
    mov eax, [ALIAS]
    mov esi, m_read
    call show
    mov eax, [PT1]
    mov esi, m_pte_read
    call show
    mov dword [ALIAS + 4], 0x33333333
    mov eax, [PT1]
    mov esi, m_pte_write
    call show
    mov eax, [0x200004]
    mov esi, m_phys
    call show
    mov eax, [PD + (ALIAS >> 22) * 4]
    mov esi, m_pde
    call show
    ; 4 MiB page: accessed and dirty land in the PDE
    mov dword [0x400010], 0x44444444
    mov eax, [0x400010]
    mov eax, [PD + 4]
    mov esi, m_pde4m
    call show
    ; not-present read and write
    EXPECT .np_r
    mov eax, [ALIAS + 0x1004]
.np_r:
    mov eax, cr2
    mov esi, m_cr2
    call show
    EXPECT .np_w
    mov dword [ALIAS + 0x1008], 1
.np_w:
    mov eax, cr2
    mov esi, m_cr2
    call show
    ; instruction fetch from a not-present page: the frame's EIP is the target itself
    EXPECT .np_x
    mov eax, ALIAS + 0x1000
    jmp eax
.np_x:
    mov eax, cr2
    mov esi, m_cr2
    call show
    ; supervisor write to a read-only page: allowed with WP=0
    mov dword [ALIAS + 0x2000], 0x55555555
    mov eax, [0x201000]
    mov esi, m_wp0
    call show
    ; with WP=1 it faults (error code 3: present, write)
    mov eax, cr0
    or eax, 1 << 16
    mov cr0, eax
    EXPECT .wp1
    mov dword [ALIAS + 0x2000], 0x66666666
.wp1:
    mov eax, [0x201000]
    mov esi, m_wp1
    call show
    ; INVLPG after repointing the RW page
    mov dword [PT1], 0x201000 | 3
    invlpg [ALIAS]
    mov eax, [ALIAS]
    mov esi, m_invlpg
    call show
    ; a reload of CR3 flushes too
    mov dword [PT1], 0x200000 | 3
    mov eax, cr3
    mov cr3, eax
    mov eax, [ALIAS]
    mov esi, m_cr3
    call show
    ; paging off again
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov eax, [0x200004]
    mov esi, m_off
    call show
    ret

m_read: db "read via alias: ", 0
m_pte_read: db "pte after read: ", 0
m_pte_write: db "pte after write: ", 0
m_phys: db "physical: ", 0
m_pde: db "pde of alias: ", 0
m_pde4m: db "4M pde: ", 0
m_cr2: db "cr2: ", 0
m_wp0: db "after WP=0 write: ", 0
m_wp1: db "after WP=1 write: ", 0
m_invlpg: db "after invlpg: ", 0
m_cr3: db "after cr3 reload: ", 0
m_off: db "paging off: ", 0
