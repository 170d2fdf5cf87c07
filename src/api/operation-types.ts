/**
 * A validation rule: refuse operations whose root type the schema lacks. graphql-js validates
 * `subscription { x }` happily (no root type means no field to check) and only fails at execution,
 * with an error that carries no code, which Apollo reports as INTERNAL_SERVER_ERROR with status 200.
 */
import { GraphQLError, type ValidationContext, type ASTVisitor } from 'graphql';

export function supportedOperationTypes(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(node) {
      const schema = context.getSchema();
      const root =
        node.operation === 'query'
          ? schema.getQueryType()
          : node.operation === 'mutation'
            ? schema.getMutationType()
            : schema.getSubscriptionType();
      if (!root) {
        context.reportError(
          new GraphQLError(`This API does not support ${node.operation} operations`, { nodes: [node] }),
        );
      }
    },
  };
}
