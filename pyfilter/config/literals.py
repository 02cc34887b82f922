"""
A safe evaluator for option values written as Python literals.

The reference evaluates every value of pythonfilter-modules.conf with
C{eval()}.  This accepts the same data (strings, numbers, booleans, None,
lists, tuples, dicts, sets) and the integer arithmetic its shipped file uses
(C{60 * 60 * 24 * 30}), and nothing else: no names, calls, attributes or
comprehensions are ever evaluated.
"""

import ast
import operator

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_NAMES = {"True": True, "False": False, "None": None}
_MAX_NUMBER = 2 ** 64


class LiteralError(ValueError):
    pass


def _isNumber(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _evaluate(node):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (str, bytes, int, float, bool, type(None))):
            return node.value
    elif isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    elif isinstance(node, ast.List):
        return [_evaluate(item) for item in node.elts]
    elif isinstance(node, ast.Tuple):
        return tuple(_evaluate(item) for item in node.elts)
    elif isinstance(node, ast.Set):
        return {_evaluate(item) for item in node.elts}
    elif isinstance(node, ast.Dict):
        if None in node.keys:
            raise LiteralError("'**' in a dictionary is not allowed")
        return {_evaluate(k): _evaluate(v)
                for k, v in zip(node.keys, node.values)}
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand = _evaluate(node.operand)
        if _isNumber(operand):
            return _UNARY[type(node.op)](operand)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if _isNumber(left) and _isNumber(right):
            try:
                result = _BINARY[type(node.op)](left, right)
            except ArithmeticError as e:
                raise LiteralError(str(e)) from None
            if abs(result) > _MAX_NUMBER:
                raise LiteralError("number too large")
            return result
        if (isinstance(node.op, ast.Add) and isinstance(left, str)
                and isinstance(right, str)):
            return left + right
    raise LiteralError(f"not a literal value: {ast.dump(node)[:60]}")


def evaluate(text):
    """
    Evaluate C{text} as a Python literal expression.

    @raise LiteralError: the text is not a literal (syntax error, names,
        calls, anything that would execute code).
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise LiteralError(f"syntax error: {e.msg}") from None
    return _evaluate(tree.body)
