; golden: none
; Lost timer ticks (tests/guests/linux/FINDINGS.md, finding 5): the PIT at 250 Hz drives IRQ0 (vector
; 0x20) while the CPU runs 200,000 never-seen instructions with interrupts on, three times. Each
; round prints how many ticks the TSC's elapsed time makes (TSC per tick measured while halted) and
; how many interrupts arrived: "round 1: 161 ticks by the TSC, 161 counted". A round where the
; count trails the TSC by more than one tick ends with "ticks lost" (exit status 3) after the three
; rounds. QEMU's TCG merges ticks that fall due while the previous one is pending, so its figures
; depend on the host; tests/qemu-system/tick_loss_test.ts holds ours to at most one per round.
%include "multiboot.inc"
%define CODE 0x400000
%define INSNS 200000
%define PIT_DIVISOR 4773        ; 1193182 / 250
%define CAL_COUNT 59659         ; 50 ms of PIT clocks
main:
    ; IDT with vector 0x20 -> tick handler
    mov eax, tick
    mov [idt + 0x20*8], ax
    mov word [idt + 0x20*8 + 2], cs
    mov word [idt + 0x20*8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 0x20*8 + 6], ax
    lidt [idtr]
    ; PIC: master base 0x20, only IRQ0 unmasked
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ; PIT ch0 mode 2, 1193182/250 = 4773
    mov al, 0x34
    out 0x43, al
    mov ax, PIT_DIVISOR
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
    ; calibrate: TSC over 50 ms of PIT channel 2 (mode 0, polled through port 0x61 as Linux's
    ; pit_calibrate_tsc does), so the rate does not depend on when tick interrupts get through
    in al, 0x61
    and al, 0xfc                ; speaker off
    or al, 1                    ; GATE2 high
    out 0x61, al
    mov al, 0xb0                ; channel 2, LSB then MSB, mode 0
    out 0x43, al
    mov ax, CAL_COUNT
    out 0x42, al
    mov al, ah
    out 0x42, al
    rdtsc
    mov [t0], eax
    mov [t0+4], edx
.cal:
    in al, 0x61
    test al, 0x20               ; OUT2
    jz .cal
    rdtsc
    sub eax, [t0]
    mov ebx, PIT_DIVISOR
    mul ebx
    mov ebx, CAL_COUNT
    div ebx                     ; TSC per tick = TSC per CAL_COUNT clocks * divisor / CAL_COUNT
    mov [tsc_per_tick], eax
    call wait_tick
    ; three rounds of cold code
    mov esi, 3
.round:
    call gen_code
    mov eax, [ticks]
    mov [tick0], eax
    rdtsc
    mov [t0], eax
    mov [t0+4], edx
    call CODE
    rdtsc
    sub eax, [t0]
    sbb edx, [t0+4]
    div dword [tsc_per_tick]
    mov ebx, eax                ; expected ticks
    mov eax, [ticks]
    sub eax, [tick0]            ; counted ticks
    inc eax
    mov ecx, eax                ; counted (+1)
    PRINT "round "
    mov eax, 4
    sub eax, esi
    call dec32
    PRINT ": "
    mov eax, ebx
    call dec32
    PRINT " ticks by the TSC, "
    lea eax, [ecx - 1]
    call dec32
    PRINT " counted", 10
    cmp ebx, ecx
    jbe .kept
    mov byte [lost_any], 1
.kept:
    dec esi
    jnz .round
    cli
    cmp byte [lost_any], 0
    jne lost
    ret

; dec32: writes EAX in decimal.
dec32:
    pushad
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.put:
    pop eax
    add al, '0'
    call putc
    loop .put
    popad
    ret

; gen_code: INSNS x "add eax, imm32" with varying immediates (new bytes each round), then ret
gen_code:
    push esi
    mov edi, CODE
    mov ecx, INSNS
    mov edx, [round_salt]
.g:
    mov byte [edi], 0x05
    mov [edi+1], edx
    add edi, 5
    add edx, 0x9e3779b9
    loop .g
    mov byte [edi], 0xc3
    mov [round_salt], edx
    pop esi
    ret

lost:
    PRINT "ticks lost", 10
    mov eax, 1
    jmp exit

wait_tick:
    mov eax, [ticks]
.w: hlt
    cmp eax, [ticks]
    je .w
    ret

tick:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iret

ticks: dd 0
lost_any: db 0
tick0: dd 0
t0: dq 0
tsc_per_tick: dd 0
round_salt: dd 0x12345
idtr: dw 256*8-1
      dd idt
align 8
idt: times 256*8 db 0
