; Security patterns for JavaScript and TypeScript (also used for .ts and .tsx, whose grammars share these nodes).
; Each pattern captures @finding; the rule of a pattern is named by its first "; rule:" comment above it.

; rule: js.eval | high | eval() runs a string as code; an attacker who controls the string runs code
(call_expression
  function: (identifier) @fn (#eq? @fn "eval")) @finding

; rule: js.new-function | high | new Function() compiles a string into code, like eval
(new_expression
  constructor: (identifier) @ctor (#eq? @ctor "Function")) @finding

; rule: js.child-process-exec | high | a shell command built from variables runs through a shell; use execFile with an argument list
(call_expression
  function: (member_expression
    property: (property_identifier) @method (#match? @method "^(exec|execSync)$"))
  arguments: (arguments . [(identifier) (binary_expression) (template_string (template_substitution))])) @finding

; rule: js.inner-html | medium | assigning HTML built from data to innerHTML/outerHTML allows cross-site scripting; use textContent
(assignment_expression
  left: (member_expression
    property: (property_identifier) @prop (#match? @prop "^(innerHTML|outerHTML)$"))
  right: [(identifier) (binary_expression) (template_string (template_substitution)) (call_expression) (member_expression)]) @finding
