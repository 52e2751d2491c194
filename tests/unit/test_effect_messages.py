"""publish_effects packs the groups the use cases record (a transition's effects) into messages:
a payment's effects always travel together, however big the batch that wrote them."""

from workers.app import BATCH, messages_of


def test_a_single_payment_is_one_message_of_its_three_effects():
    assert messages_of([[7, 8, 9]], BATCH) == [[7, 8, 9]]


def test_a_batch_of_payments_fills_messages_with_whole_payments_in_order():
    payments = [[3 * n, 3 * n + 1, 3 * n + 2] for n in range(1000)]
    messages = messages_of(payments, BATCH)
    assert [i for message in messages for i in message] == [i for group in payments for i in group]
    assert all(len(message) <= BATCH for message in messages)
    assert [len(message) for message in messages[:-1]] == [48] * (len(messages) - 1)  # 16 payments each
    starts = {group[0] for group in payments}
    assert all(message[0] in starts and (message[-1] + 1) in starts | {3000} for message in messages)


def test_a_group_bigger_than_a_message_is_cut_in_full_pieces():
    assert messages_of([[1, 2], list(range(10, 16)), [20]], 4) == [[1, 2], [10, 11, 12, 13], [14, 15, 20]]
