/** The CESQL syntax tree. */
export type Node =
  | { type: "literal"; value: string | number | boolean }
  | { type: "attribute"; name: string }
  | { type: "exists"; name: string }
  | { type: "unary"; operator: "NOT" | "-"; operand: Node }
  | { type: "binary"; operator: string; left: Node; right: Node }
  | { type: "like"; negated: boolean; operand: Node; pattern: string }
  | { type: "in"; negated: boolean; operand: Node; set: Node[] }
  | { type: "call"; name: string; args: Node[]; position: number };
