; Security patterns for Java. Each pattern captures @finding; its rule is the "; rule:" comment above it.

; rule: java.runtime-exec | high | Runtime.exec runs a command; with a single string it is split on spaces, and built from input it is command injection; use ProcessBuilder with an argument list
(method_invocation
  object: (method_invocation name: (identifier) @runtime (#eq? @runtime "getRuntime"))
  name: (identifier) @exec (#eq? @exec "exec")) @finding

; rule: java.weak-hash | medium | MD5 and SHA-1 are broken for security uses; use SHA-256 or better
(method_invocation
  object: (identifier) @cls (#eq? @cls "MessageDigest")
  name: (identifier) @get (#eq? @get "getInstance")
  arguments: (argument_list (string_literal) @algorithm (#match? @algorithm "^\"(MD5|md5|SHA-?1|sha-?1)\"$"))) @finding
