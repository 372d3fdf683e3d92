(module
  (memory (export "memory") 3)
  ;; In and out of skip: the nesting inside the value being skipped (0: it closed), and where
  ;; the scan stands in strings (0 outside one, 1 inside, 2 inside with the next byte escaped).
  (global $depth (export "depth") (mut i32) (i32.const 0))
  (global $str (export "str") (mut i32) (i32.const 0))
  ;; The deepest nesting allowed.
  (global $max (export "max") (mut i32) (i32.const 0))

  ;; Skips the JSON bytes [i, end) of memory inside a nested value: brackets outside strings are
  ;; counted, strings (and their escapes) jumped over. Memory must hold 16 readable bytes past
  ;; end. Returns the offset just past the bracket that closed the value ($depth 0), or end
  ;; ($depth and $str say where the scan stands), or -1 when the nesting went deeper than $max.
  ;;
  ;; 32 bytes at a time: where no backslash in them escapes a quote, and they cannot close the
  ;; value or pass $max, one pass of masks (the bytes inside strings are those after an odd
  ;; number of quotes) counts their brackets. Otherwise, 16 bytes are read quote, backslash and
  ;; bracket one after another. Inside a string, blocks without a quote are passed over whole.
  (func (export "skip") (param $i i32) (param $end i32) (result i32)
    (local $d i32) (local $s i32)
    (local $v v128) (local $w v128)
    (local $mq i32) (local $mb i32) (local $mo i32) (local $mc i32)
    (local $m i32) (local $k i32) (local $p i32) (local $live i32)
    (local.set $d (global.get $depth))
    (local.set $s (global.get $str))
    ;; An escape left pending at the end of the previous chunk.
    (if (i32.eq (local.get $s) (i32.const 2))
      (then
        (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (local.get $end))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $s (i32.const 1))))
    (block $out
      (loop $blocks
        (br_if $out (i32.ge_u (local.get $i) (local.get $end)))
        ;; Inside a string, only a quote can change anything: 32 bytes without one are passed
        ;; over whole (unless the last is a backslash, which may escape the next block's quote).
        (if (local.get $s)
          (then
            (block $quoted
              (loop $text
                (br_if $quoted (i32.lt_u (i32.sub (local.get $end) (local.get $i)) (i32.const 32)))
                (br_if $quoted
                  (i32.or
                    (v128.any_true (i8x16.eq (v128.load align=1 (local.get $i)) (i8x16.splat (i32.const 0x22))))
                    (v128.any_true (i8x16.eq (v128.load offset=16 align=1 (local.get $i)) (i8x16.splat (i32.const 0x22))))))
                (br_if $quoted (i32.eq (i32.load8_u offset=31 (local.get $i)) (i32.const 0x5c)))
                (local.set $i (i32.add (local.get $i) (i32.const 32)))
                (br $text)))))
        (br_if $out (i32.ge_u (local.get $i) (local.get $end)))
        (block $slow
          (br_if $slow (i32.lt_u (i32.sub (local.get $end) (local.get $i)) (i32.const 32)))
          (local.set $v (v128.load align=1 (local.get $i)))
          (local.set $w (v128.load offset=16 align=1 (local.get $i)))
          (local.set $mq
            (i32.or
              (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x22))))
              (i32.shl (i8x16.bitmask (i8x16.eq (local.get $w) (i8x16.splat (i32.const 0x22)))) (i32.const 16))))
          (local.set $mb
            (i32.or
              (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x5c))))
              (i32.shl (i8x16.bitmask (i8x16.eq (local.get $w) (i8x16.splat (i32.const 0x5c)))) (i32.const 16))))
          ;; An escape changes nothing here unless it escapes a quote, or the next block's
          ;; first byte (\n, \t, \\ before a letter: every quote stays a quote).
          (br_if $slow
            (i32.or
              (i32.and (local.get $mq) (i32.shl (local.get $mb) (i32.const 1)))
              (i32.and (local.get $mb) (i32.const 0x80000000))))
          ;; [ and { differ from ] and } only in bit 0x20.
          (local.set $v (v128.or (local.get $v) (i8x16.splat (i32.const 0x20))))
          (local.set $w (v128.or (local.get $w) (i8x16.splat (i32.const 0x20))))
          ;; m: the bytes outside strings (a quote counts as inside the string it opens).
          (local.set $m (local.get $mq))
          (local.set $m (i32.xor (local.get $m) (i32.shl (local.get $m) (i32.const 1))))
          (local.set $m (i32.xor (local.get $m) (i32.shl (local.get $m) (i32.const 2))))
          (local.set $m (i32.xor (local.get $m) (i32.shl (local.get $m) (i32.const 4))))
          (local.set $m (i32.xor (local.get $m) (i32.shl (local.get $m) (i32.const 8))))
          (local.set $m (i32.xor (local.get $m) (i32.shl (local.get $m) (i32.const 16))))
          (local.set $m (i32.xor (i32.xor (local.get $m) (i32.const -1)) (i32.sub (i32.const 0) (local.get $s))))
          (local.set $mo
            (i32.popcnt (i32.and (local.get $m)
              (i32.or
                (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x7b))))
                (i32.shl (i8x16.bitmask (i8x16.eq (local.get $w) (i8x16.splat (i32.const 0x7b)))) (i32.const 16))))))
          (local.set $mc
            (i32.popcnt (i32.and (local.get $m)
              (i32.or
                (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x7d))))
                (i32.shl (i8x16.bitmask (i8x16.eq (local.get $w) (i8x16.splat (i32.const 0x7d)))) (i32.const 16))))))
          ;; Enough closes to end the value, or opens to pass $max: read these bytes one by one.
          (br_if $slow (i32.ge_u (local.get $mc) (local.get $d)))
          (br_if $slow (i32.gt_s (i32.add (local.get $d) (local.get $mo)) (global.get $max)))
          (local.set $d (i32.sub (i32.add (local.get $d) (local.get $mo)) (local.get $mc)))
          (local.set $s (i32.xor (local.get $s) (i32.and (i32.popcnt (local.get $mq)) (i32.const 1))))
          (local.set $i (i32.add (local.get $i) (i32.const 32)))
          (br $blocks))
        ;; 16 bytes (fewer at the end), one quote, backslash or bracket after another.
        (local.set $v (v128.load align=1 (local.get $i)))
        (local.set $live
          (if (result i32) (i32.ge_u (i32.sub (local.get $end) (local.get $i)) (i32.const 16))
            (then (i32.const 0xffff))
            (else (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $end) (local.get $i))) (i32.const 1)))))
        (local.set $mq (i32.and (local.get $live) (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x22))))))
        (local.set $mb (i32.and (local.get $live) (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x5c))))))
        (local.set $v (v128.or (local.get $v) (i8x16.splat (i32.const 0x20))))
        (local.set $mo (i32.and (local.get $live) (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x7b))))))
        (local.set $mc (i32.and (local.get $live) (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 0x7d))))))
        (local.set $p (i32.const 0))
        (block $next
          (loop $events
            (if (local.get $s)
              (then
                ;; Inside a string: the next quote or backslash from p on.
                (local.set $m (i32.and (i32.or (local.get $mq) (local.get $mb)) (i32.shl (i32.const -1) (local.get $p))))
                (br_if $next (i32.eqz (local.get $m)))
                (local.set $k (i32.ctz (local.get $m)))
                (if (i32.and (i32.shr_u (local.get $mb) (local.get $k)) (i32.const 1))
                  (then
                    ;; A backslash: the byte after it is taken as it is.
                    (if (i32.ge_u (i32.add (i32.add (local.get $i) (local.get $k)) (i32.const 1)) (local.get $end))
                      (then
                        (global.set $depth (local.get $d))
                        (global.set $str (i32.const 2))
                        (return (local.get $end))))
                    (local.set $p (i32.add (local.get $k) (i32.const 2)))
                    (if (i32.gt_u (local.get $p) (i32.const 16))
                      (then
                        (local.set $i (i32.add (local.get $i) (local.get $p)))
                        (br $blocks)))
                    (br $events)))
                (local.set $s (i32.const 0))
                (local.set $p (i32.add (local.get $k) (i32.const 1)))
                (br $events)))
            ;; Outside strings: the next quote or bracket from p on.
            (local.set $m (i32.and (i32.or (local.get $mq) (i32.or (local.get $mo) (local.get $mc))) (i32.shl (i32.const -1) (local.get $p))))
            (br_if $next (i32.eqz (local.get $m)))
            (local.set $k (i32.ctz (local.get $m)))
            (local.set $p (i32.add (local.get $k) (i32.const 1)))
            (if (i32.and (i32.shr_u (local.get $mq) (local.get $k)) (i32.const 1))
              (then (local.set $s (i32.const 1)) (br $events)))
            (if (i32.and (i32.shr_u (local.get $mo) (local.get $k)) (i32.const 1))
              (then
                (local.set $d (i32.add (local.get $d) (i32.const 1)))
                (if (i32.gt_s (local.get $d) (global.get $max))
                  (then (global.set $depth (local.get $d)) (return (i32.const -1))))
                (br $events)))
            (local.set $d (i32.sub (local.get $d) (i32.const 1)))
            (if (i32.eqz (local.get $d))
              (then
                (global.set $depth (i32.const 0))
                (global.set $str (i32.const 0))
                (return (i32.add (i32.add (local.get $i) (local.get $k)) (i32.const 1)))))
            (br $events)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $blocks)))
    (global.set $depth (local.get $d))
    (global.set $str (local.get $s))
    (local.get $end))
)
