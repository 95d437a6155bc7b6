; Security patterns for Go. Each pattern captures @finding; its rule is the "; rule:" comment above it.

; rule: go.tls-insecure-skip-verify | high | InsecureSkipVerify turns off TLS certificate checks, so any server can impersonate the real one
(keyed_element
  key: (literal_element (identifier) @key (#eq? @key "InsecureSkipVerify"))
  value: (literal_element (true))) @finding

; rule: go.exec-shell | high | running a command through a shell with -c invites command injection; call the program directly with its arguments
(call_expression
  function: (selector_expression
    operand: (identifier) @pkg (#eq? @pkg "exec")
    field: (field_identifier) @fn (#match? @fn "^Command(Context)?$"))
  arguments: (argument_list
    (interpreted_string_literal) @shell (#match? @shell "^\"(sh|bash|/bin/sh|/bin/bash)\"$")
    .
    (interpreted_string_literal) @flag (#eq? @flag "\"-c\""))) @finding

; rule: go.weak-hash | medium | MD5 and SHA-1 are broken for security uses; use crypto/sha256 or better
(call_expression
  function: (selector_expression
    operand: (identifier) @pkg (#match? @pkg "^(md5|sha1)$")
    field: (field_identifier) @fn (#match? @fn "^(New|Sum)$"))) @finding
