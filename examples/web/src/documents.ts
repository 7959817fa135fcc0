// Every GraphQL document the app sends; graphql-codegen types them (src/gql).
import { graphql } from './gql';

export const AccountsQuery = graphql(`
  query Accounts {
    accounts(first: 100) {
      edges {
        node {
          id
          code
          currency
          isSystem
          balance
          heldBalance
          availableBalance
          version
        }
      }
    }
  }
`);

export const EntryFieldsFragment = graphql(`
  fragment EntryFields on Entry {
    id
    sequence
    amount
    balanceAfter
    createdAt
    transfer {
      id
      kind
      description
    }
  }
`);

/** The selected account and its latest entries (oldest first within the page). */
export const AccountViewQuery = graphql(`
  query AccountView($id: UUID!, $last: Int!) {
    account(id: $id) {
      id
      code
      currency
      balance
      heldBalance
      availableBalance
      version
      entries(last: $last) {
        edges {
          cursor
          node {
            ...EntryFields
          }
        }
      }
    }
  }
`);

export const TransferMutation = graphql(`
  mutation Transfer($input: TransferInput!) {
    transfer(input: $input) {
      id
      amount
      idempotencyKey
      fromAccount {
        id
        balance
        heldBalance
        availableBalance
        version
      }
      toAccount {
        id
        balance
        heldBalance
        availableBalance
        version
      }
    }
  }
`);

/** Both legs of a currency exchange and the conversion they record. */
export const ExchangeMutation = graphql(`
  mutation Exchange($input: ExchangeInput!) {
    exchange(input: $input) {
      transfers {
        id
        fromAccount {
          id
          balance
          heldBalance
          availableBalance
          version
        }
        toAccount {
          id
          balance
          heldBalance
          availableBalance
          version
        }
      }
      exchange {
        sourceAmount
        sourceCurrency
        targetAmount
        targetCurrency
        rate
        rounding
        remainder
      }
    }
  }
`);

/** Entries after `after` first, then live ones, in sequence order, exactly once. */
export const EntryPostedSubscription = graphql(`
  subscription EntryPosted($accountId: UUID!, $after: String) {
    entryPosted(accountId: $accountId, after: $after) {
      cursor
      ...EntryFields
    }
  }
`);

/** Nothing at subscribe time; the account after each committed change. */
export const BalanceChangedSubscription = graphql(`
  subscription BalanceChanged($accountIds: [UUID!]!) {
    balanceChanged(accountIds: $accountIds) {
      id
      balance
      heldBalance
      availableBalance
      version
    }
  }
`);
